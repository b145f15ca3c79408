/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: to stderr (default) or syslog, with a rate limiter for messages
 * that a peer (guest, frontend) can trigger at will. */
#ifndef SLUICE_CORE_LOG_H
#define SLUICE_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

enum log_level { LOG_LVL_ERR = LOG_ERR, LOG_LVL_WARN = LOG_WARNING,
                 LOG_LVL_INFO = LOG_INFO, LOG_LVL_DEBUG = LOG_DEBUG };

/* Configure the sink. ident is used as the syslog ident and the stderr prefix.
 * When stderr is systemd's journal stream (log_stderr_is_journal()), lines
 * carry the journal's "<N>" priority prefix instead of the ident.
 * Not thread-safe; call once from main() before starting threads. */
void log_init(const char *ident, bool use_syslog, enum log_level max_level);

/* True when $JOURNAL_STREAM names the device and inode of fd 2 (systemd
 * connected stderr to the journal). */
bool log_stderr_is_journal(void);

/* Log one message at @level (printf format). Thread-safe. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log @msg (no newline) at LOG_LVL_ERR from a signal handler: one write(2)
 * to stderr; in syslog mode syslog(3), which is not async-signal-safe but
 * is only reached from handlers of faults that the sluice code itself
 * caused (a denied system call). */
void log_from_signal(const char *msg);

/* A token-bucket rate limiter: at most @burst messages, refilled at one per
 * @interval_ms. Zero-initialise, then set burst and interval_ms. */
struct log_ratelimit {
    uint32_t burst;
    uint32_t interval_ms;
    uint32_t tokens;
    uint32_t suppressed;
    uint64_t last_ms;
};

/* Returns true when the caller may log now. When messages were suppressed since
 * the last permitted one, logs a summary line first. Thread-compatible (one
 * limiter per thread or under the caller's lock). */
bool log_ratelimit_ok(struct log_ratelimit *rl);

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
