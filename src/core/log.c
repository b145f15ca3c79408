/* SPDX-License-Identifier: Apache-2.0 */
#include "core/log.h"
#include "core/io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "sluice";
static bool log_syslog;
static bool log_journal;
static enum log_level log_max = LOG_LVL_INFO;

bool log_stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    int n = 0;

    /* systemd sets "DEVICE:INODE" of the stream it connected to stderr; a
     * child whose stderr was redirected inherits the variable, so the fd
     * itself must still be that stream. */
    if (!env || sscanf(env, "%llu:%llu%n", &dev, &ino, &n) != 2 || env[n] != '\0')
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *ident, bool use_syslog, enum log_level max_level)
{
    log_ident = ident;
    log_syslog = use_syslog;
    log_journal = !use_syslog && log_stderr_is_journal();
    log_max = max_level;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static const char *level_name(enum log_level l)
{
    switch (l) {
    case LOG_LVL_ERR: return "error";
    case LOG_LVL_WARN: return "warning";
    case LOG_LVL_INFO: return "info";
    default: return "debug";
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (level > log_max)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (log_syslog)
        syslog((int)level, "%s", buf);
    else if (log_journal)
        /* The journal reads "<N>" as the line's priority and knows the
         * program already. */
        fprintf(stderr, "<%d>%s: %s\n", (int)level, level_name(level), buf);
    else
        /* One fprintf call so lines from threads do not interleave. */
        fprintf(stderr, "%s: %s: %s\n", log_ident, level_name(level), buf);
}

void log_from_signal(const char *msg)
{
    char buf[512];
    size_t n = 0;
    const char *parts[] = { log_journal ? "<3>" : log_ident, log_journal ? "error: " : ": error: ",
                            msg, "\n" };

    if (log_syslog) {
        syslog(LOG_ERR, "%s", msg);
        return;
    }
    for (size_t i = 0; i < 4; i++)
        for (const char *p = parts[i]; *p && n < sizeof(buf) - 1; p++)
            buf[n++] = *p;
    if (buf[n - 1] != '\n')
        buf[n - 1] = '\n';
    ssize_t w = write(2, buf, n);
    (void)w;
}

bool log_ratelimit_ok(struct log_ratelimit *rl)
{
    uint64_t now = (uint64_t)now_ms();

    if (rl->last_ms == 0) {
        rl->tokens = rl->burst;
        rl->last_ms = now;
    } else if (rl->interval_ms && now - rl->last_ms >= rl->interval_ms) {
        uint64_t refill = (now - rl->last_ms) / rl->interval_ms;
        rl->tokens = refill >= rl->burst ? rl->burst : rl->tokens + (uint32_t)refill;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
        rl->last_ms = now;
    }
    if (rl->tokens == 0) {
        rl->suppressed++;
        return false;
    }
    rl->tokens--;
    if (rl->suppressed) {
        log_warn("%u similar messages suppressed", rl->suppressed);
        rl->suppressed = 0;
    }
    return true;
}
