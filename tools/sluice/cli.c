/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's error and warning lines (the rest of the framework is in
 * cli-opt.c; a unit test stubs these three to check object and reason). */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

static void vreport(const char *object, const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stderr, "sluice: %s: %s", object, prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *object, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(object, "", fmt, ap);
    va_end(ap);
    return EXIT_FAIL;
}

int cli_usage(const char *object, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(object, "", fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

void cli_warn(const char *object, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(object, "warning: ", fmt, ap);
    va_end(ap);
}
