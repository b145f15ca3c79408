/* SPDX-License-Identifier: Apache-2.0 */
/* A seccomp allowlist (libseccomp) for sluiced and sluice-vmm, installed
 * once set-up is done, on every thread of the process (TSYNC).
 *
 * A system call outside the list is trapped (SIGSYS): the handler logs
 * "seccomp: denied system call NAME (N)" on the log's output, then, in
 * SANDBOX_ENFORCE, makes the call fail with EPERM and lets the process go
 * on; in SANDBOX_KILL it ends the process (exit status 159, 128 + SIGSYS).
 * clone3 fails with ENOSYS (unlogged) so that threads are made with clone,
 * whose flags a filter can see: clone without CLONE_THREAD (a fork) is
 * denied. ioctl is allowed for a fixed list of request numbers per profile
 * (sluiced: block size/discard, tap and interface set-up; sluice-vmm: the
 * KVM requests of its run loop; both: TCGETS): any other request is
 * denied, logged as "... ioctl (16, request 0xNNNNNNNN) ...". Sanitizer builds also allow what their runtimes need (ptrace and
 * fork-like clone for LeakSanitizer). */
#ifndef SLUICE_CORE_SANDBOX_H
#define SLUICE_CORE_SANDBOX_H

enum sandbox_mode { SANDBOX_OFF, SANDBOX_ENFORCE, SANDBOX_KILL };
enum sandbox_profile { SANDBOX_SLUICED, SANDBOX_VMM };

/* The daemons' default: SANDBOX_ENFORCE, but SANDBOX_OFF in sanitizer
 * builds, where LeakSanitizer's exit-time check stops the world by cloning
 * a tracer and ptracing every thread: a filter breaks it (a hang at exit).
 * The sanitizer builds' unit test still installs the filter. */
enum sandbox_mode sandbox_default_mode(void);

/* Parse "enforce", "kill" or "off". Returns 0 or -EINVAL. */
int sandbox_parse_mode(const char *s, enum sandbox_mode *mode);

/* Install the filter of @profile. Returns 0 (also for SANDBOX_OFF) or
 * -errno. Irreversible for the life of the process. */
int sandbox_install(enum sandbox_profile profile, enum sandbox_mode mode);

#endif
