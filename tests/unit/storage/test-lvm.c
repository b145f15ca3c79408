/* SPDX-License-Identifier: Apache-2.0 */
/* storage/lvm.c: JSON reports and device-mapper status lines, from output
 * captured from LVM 2.03.16 / kernel 6.1 in the lab VM (data/). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lvm.h"

static char *slurp(const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", DATA_DIR, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static const struct lvm_lv *find(const struct lvm_lv *lv, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(lv[i].name, name))
            return &lv[i];
    fail_msg("no LV %s", name);
    return NULL;
}

static void test_lvs_vg(void **state)
{
    char *json = slurp("lvs-vg.json");
    struct lvm_lv *lv;
    size_t n;

    assert_int_equal(lvm_parse_lvs(json, &lv, &n), 0);
    assert_int_equal(n, 4);
    const struct lvm_lv *pool = find(lv, n, "tank");
    assert_string_equal(pool->vg, "tank");
    assert_string_equal(pool->segtype, "thin-pool");
    assert_true(lvm_has_tag(pool->tags, "sluice.pool"));
    assert_int_equal(pool->size, 952107008);
    assert_int_equal(pool->metadata_size, 4194304);
    assert_float_equal(pool->data_percent, 0.88, 1e-9);
    assert_float_equal(pool->metadata_percent, 10.94, 1e-9);
    assert_true(pool->active);
    assert_false(pool->readonly);

    const struct lvm_lv *disk = find(lv, n, "disk0");
    assert_string_equal(disk->segtype, "thin");
    assert_string_equal(disk->pool_lv, "tank");
    assert_string_equal(disk->origin, "");
    assert_string_equal(disk->path, "/dev/tank/disk0");
    assert_int_equal(disk->size, 1073741824);
    assert_float_equal(disk->metadata_percent, -1, 0);
    assert_true(lvm_has_tag(disk->tags, "sluice.vol"));

    const struct lvm_lv *snap = find(lv, n, "snap0");
    assert_string_equal(snap->origin, "disk0");
    assert_true(snap->readonly);
    const struct lvm_lv *clone = find(lv, n, "clone0");
    assert_string_equal(clone->origin, "snap0");
    assert_false(clone->readonly);
    free(lv);
    free(json);
}

static void test_lvs_all_hidden(void **state)
{
    char *json = slurp("lvs-all.json");
    struct lvm_lv *lv;
    size_t n;

    assert_int_equal(lvm_parse_lvs(json, &lv, &n), 0);
    assert_int_equal(n, 7);
    const struct lvm_lv *spare = find(lv, n, "[lvol0_pmspare]");
    assert_false(spare->active);
    assert_float_equal(spare->data_percent, -1, 0);
    assert_string_equal(find(lv, n, "[tank_tdata]")->segtype, "linear");
    free(lv);
    free(json);
}

static void test_lvs_empty_and_other(void **state)
{
    char *json = slurp("lvs-empty.json");
    struct lvm_lv *lv;
    size_t n;

    assert_int_equal(lvm_parse_lvs(json, &lv, &n), 0);
    assert_int_equal(n, 0);
    free(lv);
    free(json);
    json = slurp("lvs-other.json");
    assert_int_equal(lvm_parse_lvs(json, &lv, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(lv[0].tags, "");
    assert_false(lvm_has_tag(lv[0].tags, "sluice.pool"));
    assert_float_equal(lv[0].data_percent, 0.0, 0);
    free(lv);
    free(json);
}

static void test_vgs_pvs(void **state)
{
    char *json = slurp("vgs.json");
    struct lvm_vg *vg;
    struct lvm_pv *pv;
    size_t n;

    assert_int_equal(lvm_parse_vgs(json, &vg, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(vg[0].name, "tank");
    assert_int_equal(vg[0].size, 1069547520);
    assert_int_equal(vg[0].free, 109051904);
    assert_int_equal(vg[0].extent_size, 4194304);
    assert_int_equal(vg[0].pv_count, 1);
    assert_int_equal(vg[0].lv_count, 4);
    assert_true(lvm_has_tag(vg[0].tags, "sluice.vg"));
    free(vg);
    free(json);
    json = slurp("pvs.json");
    assert_int_equal(lvm_parse_pvs(json, &pv, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(pv[0].name, "/dev/loop0");
    assert_string_equal(pv[0].vg, "tank");
    assert_int_equal(pv[0].free, 109051904);
    free(pv);
    free(json);
}

static void test_json_std_numbers(void **state)
{
    /* LVM >= 2.03.17 "json_std": numbers are JSON numbers, a log section. */
    const char *json = "{\"report\":[{\"lv\":[{\"vg_name\":\"vg\",\"lv_name\":\"v\","
                       "\"lv_size\":2147483648,\"data_percent\":12.5,\"metadata_percent\":null,"
                       "\"lv_tags\":\"a,sluice.vol,b\"}]}],\"log\":[]}";
    struct lvm_lv *lv;
    size_t n;

    assert_int_equal(lvm_parse_lvs(json, &lv, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(lv[0].size, 2147483648ull);
    assert_float_equal(lv[0].data_percent, 12.5, 1e-9);
    assert_float_equal(lv[0].metadata_percent, -1, 0);
    assert_true(lvm_has_tag(lv[0].tags, "sluice.vol"));
    assert_false(lvm_has_tag(lv[0].tags, "sluice"));
    free(lv);
}

static void test_bad_json(void **state)
{
    struct lvm_lv *lv;
    size_t n;

    assert_int_equal(lvm_parse_lvs("", &lv, &n), -EINVAL);
    assert_int_equal(lvm_parse_lvs("{\"report\":{}}", &lv, &n), -EINVAL);
    assert_int_equal(lvm_parse_lvs("  Volume group \"x\" not found", &lv, &n), -EINVAL);
    assert_int_equal(lvm_parse_lvs("{\"report\":[{\"lv\":[1,\"x\"]}]}", &lv, &n), 0);
    assert_int_equal(n, 0);
}

static void test_tags(void **state)
{
    assert_true(lvm_has_tag("sluice.pool", "sluice.pool"));
    assert_true(lvm_has_tag("x,sluice.pool", "sluice.pool"));
    assert_false(lvm_has_tag("sluice.pool2", "sluice.pool"));
    assert_false(lvm_has_tag("", "sluice.pool"));
    assert_false(lvm_has_tag(NULL, "sluice.pool"));
}

/* Find "NAME: start len target params" in a dmsetup capture. */
static const char *dm_line(const char *text, const char *name, char *buf, size_t len)
{
    char key[128];
    snprintf(key, sizeof(key), "%s: ", name);
    const char *p = strstr(text, key);
    assert_non_null(p);
    p += strlen(key);
    for (int i = 0; i < 3; i++) {   /* skip start, length, target */
        p = strchr(p, ' ');
        assert_non_null(p);
        p++;
    }
    size_t l = strcspn(p, "\n");
    snprintf(buf, len, "%.*s", (int)l, p);
    return buf;
}

static void test_dm_status(void **state)
{
    char *status = slurp("dmsetup-status.txt"), *table = slurp("dmsetup-table.txt");
    struct lvm_pool_status st;
    char buf[256];
    uint64_t x;

    assert_int_equal(lvm_parse_pool_status(dm_line(status, "tank-tank-tpool", buf, sizeof(buf)), &st), 0);
    assert_int_equal(st.transaction_id, 3);
    assert_int_equal(st.meta_used_blocks, 112);
    assert_int_equal(st.meta_total_blocks, 1024);
    assert_int_equal(st.data_used_blocks, 128);
    assert_int_equal(st.data_total_blocks, 14528);
    assert_false(st.out_of_data_space);
    assert_false(st.read_only);
    assert_int_equal(lvm_parse_pool_table(dm_line(table, "tank-tank-tpool", buf, sizeof(buf)), &x), 0);
    assert_int_equal(x, 65536);
    /* 14528 blocks of 64 KiB are the pool's 952107008 bytes (lvs-vg.json). */
    assert_int_equal(st.data_total_blocks * x, 952107008);
    assert_int_equal(lvm_parse_thin_status(dm_line(status, "tank-disk0", buf, sizeof(buf)), &x), 0);
    assert_int_equal(x, 16384 * 512);

    assert_int_equal(lvm_parse_pool_status("5 10/100 100/100 - out_of_data_space discard_passdown", &st), 0);
    assert_true(st.out_of_data_space);
    assert_int_equal(lvm_parse_pool_status("Fail", &st), 0);
    assert_true(st.failed);
    assert_int_equal(lvm_parse_pool_status("3 112/10 1/2 - rw", &st), -EINVAL);
    assert_int_equal(lvm_parse_pool_status("garbage", &st), -EINVAL);
    assert_int_equal(lvm_parse_thin_status("Fail", &x), -EIO);
    assert_int_equal(lvm_parse_thin_status("", &x), -EINVAL);
    assert_int_equal(lvm_parse_pool_table("253:0 253:1 0 0 0", &x), -EINVAL);
    free(status);
    free(table);
}

static void test_dm_name(void **state)
{
    char buf[64];

    assert_int_equal(lvm_dm_name("tank", "disk0", NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "tank-disk0");
    assert_int_equal(lvm_dm_name("my-vg", "vm-1-disk", "tpool", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "my--vg-vm--1--disk-tpool");
    assert_int_equal(lvm_dm_name("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                                 NULL, buf, sizeof(buf)), -ENAMETOOLONG);
}

/* The number of lines in @path (0 when it does not exist). */
static int lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;

    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* lvm_cache_reports: with a fake lvm that logs each run and prints the lab's
 * reports, every selection after the first lvs is answered from the cache,
 * filtered as LVM would; a command that is not a report drops the cache;
 * turned off, each call runs lvm again with its selection. */
static void test_report_cache(void **state)
{
    char dir[] = "/tmp/test-lvm-cache.XXXXXX", script[128], log[128];
    struct lvm_lv *lv;
    struct lvm_vg *vg;
    size_t n;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(script, sizeof(script), "%s/lvm", dir);
    snprintf(log, sizeof(log), "%s/runs", dir);
    f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\necho \"$*\" >>%s\ncase $1 in\n"
               "lvs) cat %s/lvs-vg.json ;;\nvgs) cat %s/vgs.json ;;\nesac\n", log, DATA_DIR, DATA_DIR);
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);
    setenv("SLUICE_LVM", script, 1);

    lvm_cache_reports(true);
    assert_int_equal(lvm_lvs("@sluice.pool", &lv, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(lv[0].name, "tank");
    free(lv);
    assert_int_equal(lines(log), 1);
    assert_int_equal(lvm_lvs("tank", &lv, &n, NULL), 0);
    assert_int_equal(n, 4);
    free(lv);
    assert_int_equal(lvm_lvs("tank/snap0", &lv, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(lv[0].name, "snap0");
    assert_string_equal(lv[0].origin, "disk0");
    free(lv);
    assert_int_equal(lvm_lvs("tan/ksnap0", &lv, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(lv);
    assert_int_equal(lvm_lvs("other", &lv, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(lv);
    assert_int_equal(lvm_lvs("@sluice.vol", &lv, &n, NULL), 0);
    assert_int_equal(n, 3);
    free(lv);
    assert_int_equal(lines(log), 1);
    assert_int_equal(lvm_vgs("tank", &vg, &n, NULL), 0);
    assert_int_equal(n, 1);
    free(vg);
    assert_int_equal(lvm_vgs("other", &vg, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(vg);
    assert_int_equal(lines(log), 2);

    /* a change: the next report runs lvm again */
    assert_int_equal(lvm_run((const char *const[]){ "lvcreate", "-n", "x", NULL }, NULL, NULL), 0);
    assert_int_equal(lines(log), 3);
    assert_int_equal(lvm_lvs("tank", &lv, &n, NULL), 0);
    free(lv);
    assert_int_equal(lines(log), 4);

    /* off: every call runs lvm, with its selection */
    lvm_cache_reports(false);
    assert_int_equal(lvm_lvs("tank/disk0", &lv, &n, NULL), 0);
    free(lv);
    assert_int_equal(lvm_lvs("tank/disk0", &lv, &n, NULL), 0);
    free(lv);
    assert_int_equal(lines(log), 6);
    f = fopen(log, "r");
    char line[512] = "", last[512] = "";
    while (fgets(line, sizeof(line), f))
        snprintf(last, sizeof(last), "%s", line);
    fclose(f);
    assert_non_null(strstr(last, " tank/disk0 "));

    unsetenv("SLUICE_LVM");
    unlink(script);
    unlink(log);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lvs_vg),
        cmocka_unit_test(test_lvs_all_hidden),
        cmocka_unit_test(test_lvs_empty_and_other),
        cmocka_unit_test(test_vgs_pvs),
        cmocka_unit_test(test_json_std_numbers),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_dm_status),
        cmocka_unit_test(test_dm_name),
        cmocka_unit_test(test_report_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
