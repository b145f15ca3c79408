/* SPDX-License-Identifier: Apache-2.0 */
/* The global --quiet flag of the CLI (declared in cli-opt.h). Merge note:
 * once main.c defines `bool cli_quiet` for its global --quiet / -q, delete
 * this file (tools/sluice/meson.build builds it only while it exists). */
#include <stdbool.h>

#include "cli-opt.h"

bool cli_quiet;
