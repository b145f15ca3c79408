/* SPDX-License-Identifier: Apache-2.0 */
#include "core/log.h"
#include "core/io.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "sluice";
static bool log_syslog;
static enum log_level log_max = LOG_LVL_INFO;

void log_init(const char *ident, bool use_syslog, enum log_level max_level)
{
    log_ident = ident;
    log_syslog = use_syslog;
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
    else
        /* One fprintf call so lines from threads do not interleave. */
        fprintf(stderr, "%s: %s: %s\n", log_ident, level_name(level), buf);
}

void log_from_signal(const char *msg)
{
    char buf[512];
    size_t n = 0;
    const char *parts[] = { log_ident, ": error: ", msg, "\n" };

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
