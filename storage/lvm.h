/* SPDX-License-Identifier: Apache-2.0 */
/* LVM and device-mapper plumbing of the lvm-thin pool driver (private to
 * storage/; tests include it by name through pool_priv_dep).
 *
 * Commands: `lvm <command> ... --config CONFIG`, run directly (fork/exec, no
 * shell), reports requested with `--reportformat json --units b --nosuffix`
 * and parsed with json-c: LVM's text output is never scraped. CONFIG is
 * LVM_DEFAULT_CONFIG unless $SLUICE_LVM_CONFIG is set; the binary is "lvm"
 * (found on PATH, /sbin and /usr/sbin) unless $SLUICE_LVM names another.
 *
 * Live status (thin pool data/metadata usage, volume mapped size, open
 * count) comes from libdevmapper (dm_task_*), without spawning anything. */
#ifndef SLUICE_STORAGE_LVM_H
#define SLUICE_STORAGE_LVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define LVM_DEFAULT_CONFIG \
    "activation{udev_sync=0 udev_rules=0 verify_udev_operations=1} " \
    "devices{obtain_device_list_from_udev=0}"

#define LVM_NAME_MAX 128

/* One row of `lvs` (the fields of LVM_LV_FIELDS). */
struct lvm_lv {
    char vg[LVM_NAME_MAX];
    char name[LVM_NAME_MAX];
    char attr[16];
    char tags[512];           /* comma separated, as LVM reports them */
    char pool_lv[LVM_NAME_MAX];
    char origin[LVM_NAME_MAX];
    char segtype[32];
    char path[LVM_NAME_MAX * 2 + 8];
    char profile[LVM_NAME_MAX];
    uint64_t size;
    uint64_t metadata_size;
    double data_percent;      /* -1 when LVM left it empty */
    double metadata_percent;  /* -1 when empty */
    bool active;
    bool readonly;
};

#define LVM_LV_FIELDS "vg_name,lv_name,lv_attr,lv_size,lv_tags,pool_lv,origin," \
    "data_percent,metadata_percent,lv_metadata_size,lv_active,lv_path," \
    "lv_permissions,segtype,lv_profile"

/* One row of `vgs` (LVM_VG_FIELDS). */
struct lvm_vg {
    char name[LVM_NAME_MAX];
    char tags[512];
    uint64_t size;
    uint64_t free;
    uint64_t extent_size;
    unsigned pv_count;
    unsigned lv_count;
};

#define LVM_VG_FIELDS "vg_name,vg_tags,vg_size,vg_free,vg_extent_size,pv_count,lv_count"

/* One row of `pvs` (LVM_PV_FIELDS). */
struct lvm_pv {
    char name[256];
    char vg[LVM_NAME_MAX];
    uint64_t size;
    uint64_t free;
};

#define LVM_PV_FIELDS "pv_name,vg_name,pv_size,pv_free"

/* Parse a JSON report: every row of every report section named "lv" / "vg"
 * / "pv". Values may be JSON strings (LVM 2.03 "json") or numbers
 * ("json_std"). *@out is malloc'd (NULL when empty). Returns 0, -EINVAL
 * (not a report) or -ENOMEM. */
int lvm_parse_lvs(const char *json, struct lvm_lv **out, size_t *n);
int lvm_parse_vgs(const char *json, struct lvm_vg **out, size_t *n);
int lvm_parse_pvs(const char *json, struct lvm_pv **out, size_t *n);

/* Does the comma-separated LVM tag list @tags contain @tag exactly? */
bool lvm_has_tag(const char *tags, const char *tag);

/* Run `lvm ARGV... --config CONFIG` (argv NULL-terminated, argv[0] is the
 * lvm command such as "lvcreate"). Output is captured: *@out (may be NULL
 * to discard) receives stdout, malloc'd and NUL-terminated. On a non-zero
 * exit the last line LVM wrote on stderr is the reason in @err.
 * Returns 0, -ENODEV (no lvm binary), -EIO (exit status != 0), -errno. */
int lvm_run(const char *const *argv, char **out, struct sl_err *err);

/* Keep each report's answer for the rest of the process, until a command
 * that is not a report runs (lvcreate, lvremove... through lvm_run): for a
 * short-lived process such as the CLI, never for sluiced, which lives while
 * others change LVM. Off by default; @on false drops what is kept. */
void lvm_cache_reports(bool on);

/* Reports (run + parse). @select is an extra argument for the command: a
 * VG name, "VG/LV", "@tag", or NULL for everything. With @all, hidden LVs
 * too. A VG that does not exist gives 0 rows. */
int lvm_lvs(const char *select, struct lvm_lv **out, size_t *n, struct sl_err *err);
int lvm_vgs(const char *select, struct lvm_vg **out, size_t *n, struct sl_err *err);
int lvm_pvs(const char *select, struct lvm_pv **out, size_t *n, struct sl_err *err);

/* --- device-mapper ------------------------------------------------------ */

/* Is device-mapper usable (the kernel driver answers)? 0 or -ENODEV. Never
 * prints. */
int lvm_dm_available(void);

/* The device-mapper name of VG/LV with an optional @layer ("tpool"):
 * '-' doubled in each part, joined by '-'. Returns 0 or -ENAMETOOLONG. */
int lvm_dm_name(const char *vg, const char *lv, const char *layer, char *buf, size_t len);

struct lvm_pool_status {
    uint64_t transaction_id;
    uint64_t meta_used_blocks, meta_total_blocks;   /* 4 KiB blocks */
    uint64_t data_used_blocks, data_total_blocks;
    uint64_t data_block_bytes;                      /* from the table */
    bool out_of_data_space;
    bool read_only;
    bool failed;
};

/* Parse the params of a thin-pool target's status line ("3 112/1024
 * 128/14528 - rw ...") into @st (data_block_bytes untouched). 0 or -EINVAL. */
int lvm_parse_pool_status(const char *params, struct lvm_pool_status *st);
/* Data block size in bytes from a thin-pool table line's params
 * ("253:0 253:1 128 0 0"). 0 or -EINVAL. */
int lvm_parse_pool_table(const char *params, uint64_t *block_bytes);
/* Mapped bytes from a thin target's status params ("16384 16383"). 0,
 * -EINVAL, -EIO ("Fail"). */
int lvm_parse_thin_status(const char *params, uint64_t *mapped_bytes);

/* Live status of thin pool VG/LV (its "-tpool" layer, else the LV itself).
 * -ENXIO when not active, -ENODEV without device-mapper. */
int lvm_dm_pool_status(const char *vg, const char *lv, struct lvm_pool_status *st);

struct lvm_thin_status {
    uint64_t size_bytes;
    uint64_t mapped_bytes;
    int open_count;
    bool readonly;
};
/* Live status of thin volume VG/LV. -ENXIO when not active. */
int lvm_dm_thin_status(const char *vg, const char *lv, struct lvm_thin_status *st);

#endif
