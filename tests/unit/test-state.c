/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/sluiced/state.c: sluiced's state folder on a real
 * file system (a temporary folder): the round trip of devices.json, its
 * atomic replacement (a write that fails half-way, through RLIMIT_FSIZE,
 * leaves the old file whole and no temporary file), corrupt files, and the
 * folder's lock. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "state.h"

static char root[PATH_MAX / 2];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "%s/test-state.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh folder name below root for each test. */
static const char *dir_for(const char *name)
{
    static char d[PATH_MAX];   /* root is at most PATH_MAX / 2 */
    snprintf(d, sizeof(d), "%s/%s/sluiced", root, name);
    return d;
}

static char *read_all(const char *dir, const char *file)
{
    char path[PATH_MAX * 2];
    static char buf[65536];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

static void write_file(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX * 2];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *dir, const char *file)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

static const struct state_rec three[] = {
    { .id = "blk0", .type = DEV_BLK, .spec = "socket=/run/a.sock,path=/var/lib/x.raw" },
    { .id = "n1", .type = DEV_NET, .spec = "socket=/run/n.sock,bridge=br0,id=n1,mac=52:54:00:00:00:01" },
    { .id = "q", .type = DEV_BLK, .spec = "socket=/run/q \"quoted\",,x.sock,null=1G,id=q" },
};

static void assert_recs(const struct state_rec *got, unsigned n, const struct state_rec *want, unsigned wn)
{
    assert_int_equal(n, wn);
    for (unsigned i = 0; i < n; i++) {
        assert_string_equal(got[i].id, want[i].id);
        assert_int_equal(got[i].type, want[i].type);
        assert_string_equal(got[i].spec, want[i].spec);
    }
}

/* Save, load, save fewer, load: the same records in the same order; the
 * folder (and its missing parent) is made, 0700, the file 0600. */
static void test_round_trip(void **unused)
{
    const char *dir = dir_for("rt");
    struct sl_err err = ERR_INIT;
    struct state_rec *recs;
    struct state *st;
    unsigned n = 99;
    struct stat sb;
    (void)unused;

    assert_int_equal(state_open(dir, &st, &err), 0);
    assert_string_equal(state_dir(st), dir);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    /* No file yet: no records. */
    assert_int_equal(state_load(st, &recs, &n, NULL, NULL, &err), 0);
    assert_int_equal(n, 0);
    assert_null(recs);

    assert_int_equal(state_save(st, three, 3, NULL, 0, &err), 0);
    assert_int_equal(state_load(st, &recs, &n, NULL, NULL, &err), 0);
    assert_recs(recs, n, three, 3);
    state_recs_free(recs, n);
    assert_false(exists(dir, STATE_FILE ".tmp"));
    {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
    /* Another process (a restart) reads the same. */
    state_close(st);
    assert_int_equal(state_open(dir, &st, &err), 0);
    assert_int_equal(state_load(st, &recs, &n, NULL, NULL, &err), 0);
    assert_recs(recs, n, three, 3);
    state_recs_free(recs, n);

    assert_int_equal(state_save(st, &three[1], 1, NULL, 0, &err), 0);
    assert_int_equal(state_load(st, &recs, &n, NULL, NULL, &err), 0);
    assert_recs(recs, n, &three[1], 1);
    state_recs_free(recs, n);
    assert_int_equal(state_save(st, NULL, 0, NULL, 0, &err), 0);
    assert_int_equal(state_load(st, &recs, &n, NULL, NULL, &err), 0);
    assert_int_equal(n, 0);
    state_recs_free(recs, n);
    state_close(st);
}

/* Groups: saved after the devices, read back in order; a file without
 * "groups" (written before groups were recorded) loads with none, and the
 * key is left out when there are none. */
static void test_groups(void **unused)
{
    static const struct state_group two[] = {
        { .name = (char *)"g1", .spec = (char *)"iops=50,burst=1.000" },
        { .name = (char *)"g2", .spec = (char *)"bps=1048576,burst=0.500" },
    };
    const char *dir = dir_for("groups");
    struct sl_err err = ERR_INIT;
    struct state_group *gs;
    struct state_rec *recs;
    struct state *st;
    unsigned n, ng;
    (void)unused;

    assert_int_equal(state_open(dir, &st, &err), 0);
    assert_int_equal(state_save(st, three, 2, two, 2, &err), 0);
    assert_int_equal(state_load(st, &recs, &n, &gs, &ng, &err), 0);
    assert_recs(recs, n, three, 2);
    assert_int_equal(ng, 2);
    for (unsigned i = 0; i < 2; i++) {
        assert_string_equal(gs[i].name, two[i].name);
        assert_string_equal(gs[i].spec, two[i].spec);
    }
    state_recs_free(recs, n);
    state_groups_free(gs, ng);
    /* The version-1 file of before: no "groups". */
    write_file(dir, STATE_FILE, "{\"version\":1,\"devices\":[{\"id\":\"a\",\"type\":\"blk\",\"spec\":\"s\"}]}");
    gs = (void *)1;
    ng = 7;
    assert_int_equal(state_load(st, &recs, &n, &gs, &ng, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ng, 0);
    state_recs_free(recs, n);
    state_groups_free(gs, ng);
    assert_int_equal(state_save(st, three, 1, NULL, 0, &err), 0);
    assert_null(strstr(read_all(dir, STATE_FILE), "groups"));
    state_close(st);
}

/* A save that fails half-way (the file size limit stops the write of the
 * temporary file) leaves devices.json as it was and no temporary file; a
 * temporary file left by a crash is ignored and replaced. */
static void test_atomic(void **unused)
{
    const char *dir = dir_for("atomic");
    struct sl_err err = ERR_INIT;
    struct state_rec *recs, many[64];
    char before[65536], spec[64][128];
    struct rlimit old, lim;
    struct state *st;
    unsigned n;
    int r;
    (void)unused;

    assert_int_equal(state_open(dir, &st, &err), 0);
    assert_int_equal(state_save(st, three, 2, NULL, 0, &err), 0);
    snprintf(before, sizeof(before), "%s", read_all(dir, STATE_FILE));
    for (unsigned i = 0; i < 64; i++) {
        char id[16];
        snprintf(id, sizeof(id), "blk%u", i);
        snprintf(spec[i], sizeof(spec[i]), "socket=/run/sluice/vm%u.sock,path=/var/lib/images/vm%u.raw", i, i);
        many[i] = (struct state_rec){ .id = strdup(id), .type = DEV_BLK, .spec = spec[i] };
    }
    /* Writes past 1 KiB fail with EFBIG (SIGXFSZ ignored). */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    r = state_save(st, many, 64, NULL, 0, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(r, -EFBIG);
    assert_non_null(strstr(err.msg, dir));
    assert_string_equal(read_all(dir, STATE_FILE), before);
    assert_false(exists(dir, STATE_FILE ".tmp"));
    assert_int_equal(state_load(st, &recs, &n, NULL, NULL, &err), 0);
    assert_recs(recs, n, three, 2);
    state_recs_free(recs, n);

    /* A crash between the write and the rename leaves a partial .tmp. */
    write_file(dir, STATE_FILE ".tmp", "{\"version\":1,\"devi");
    assert_int_equal(state_load(st, &recs, &n, NULL, NULL, &err), 0);
    assert_recs(recs, n, three, 2);
    state_recs_free(recs, n);
    assert_int_equal(state_save(st, many, 64, NULL, 0, &err), 0);
    assert_false(exists(dir, STATE_FILE ".tmp"));
    assert_int_equal(state_load(st, &recs, &n, NULL, NULL, &err), 0);
    assert_recs(recs, n, many, 64);
    state_recs_free(recs, n);
    for (unsigned i = 0; i < 64; i++)
        free(many[i].id);
    state_close(st);
}

/* Each corrupt file: -EBADMSG with a reason, no records, the file left as
 * it is; once frozen, saves are refused and the file stays. */
static void test_corrupt(void **unused)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        { "", "not JSON" },
        { "{\"version\":1,\"devices\":[{\"id\":\"a\",\"ty", "not JSON" },
        { "[1,2]", "not a JSON object" },
        { "{\"devices\":[]}", "version" },
        { "{\"version\":2,\"devices\":[]}", "version 2" },
        { "{\"version\":1}", "devices" },
        { "{\"version\":1,\"devices\":{}}", "devices" },
        { "{\"version\":1,\"devices\":[{\"id\":\"a\",\"type\":\"blk\"}]}", "device 1" },
        { "{\"version\":1,\"devices\":[{\"id\":\"\",\"type\":\"blk\",\"spec\":\"x\"}]}", "device 1" },
        { "{\"version\":1,\"devices\":[{\"id\":\"a\",\"type\":\"blk\",\"spec\":\"s\"},7]}", "device 2" },
        { "{\"version\":1,\"devices\":[{\"id\":\"a\",\"type\":\"scsi\",\"spec\":\"s\"}]}", "type" },
        { "{\"version\":1,\"devices\":[{\"id\":\"a\",\"type\":\"blk\",\"spec\":\"s\"},"
          "{\"id\":\"a\",\"type\":\"net\",\"spec\":\"t\"}]}", "twice" },
        { "{\"version\":1,\"devices\":[],\"groups\":{}}", "groups" },
        { "{\"version\":1,\"devices\":[],\"groups\":[{\"name\":\"g\"}]}", "group 1" },
        { "{\"version\":1,\"devices\":[],\"groups\":[{\"name\":\"g\",\"spec\":\"iops=1\"},"
          "{\"name\":\"g\",\"spec\":\"iops=2\"}]}", "twice" },
    };
    const char *dir = dir_for("corrupt");
    struct sl_err err = ERR_INIT;
    struct state_rec *recs;
    struct state *st;
    unsigned n;
    (void)unused;

    assert_int_equal(state_open(dir, &st, &err), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&err);
        write_file(dir, STATE_FILE, bad[i].text);
        recs = (void *)1;
        n = 5;
        if (state_load(st, &recs, &n, NULL, NULL, &err) != -EBADMSG || recs || n ||
            !strstr(err.msg, bad[i].why))
            fail_msg("'%s': expected -EBADMSG (%s), got '%s'", bad[i].text, bad[i].why, err.msg);
        assert_string_equal(read_all(dir, STATE_FILE), bad[i].text);
    }
    state_freeze(st);
    assert_true(state_frozen(st));
    assert_int_equal(state_save(st, three, 3, NULL, 0, &err), -EROFS);
    assert_string_equal(read_all(dir, STATE_FILE), bad[sizeof(bad) / sizeof(bad[0]) - 1].text);
    assert_false(exists(dir, STATE_FILE ".tmp"));
    state_close(st);
}

/* One user per folder: a second open fails with -EBUSY naming the holder's
 * pid, until the first closes; a folder that cannot be made fails. */
static void test_lock(void **unused)
{
    const char *dir = dir_for("lock");
    struct sl_err err = ERR_INIT;
    struct state *a, *b = (void *)1;
    char pid[32], path[PATH_MAX];   /* root: at most PATH_MAX / 2 */
    (void)unused;

    assert_int_equal(state_open(dir, &a, &err), 0);
    assert_int_equal(state_open(dir, &b, &err), -EBUSY);
    assert_null(b);
    snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
    assert_non_null(strstr(err.msg, "in use by another sluiced"));
    assert_non_null(strstr(err.msg, pid));
    state_close(a);
    assert_int_equal(state_open(dir, &b, &err), 0);
    state_close(b);

    /* A file where the folder should be. */
    write_file(root, "lock/file", "x");
    snprintf(path, sizeof(path), "%s/lock/file/sluiced", root);
    assert_true(state_open(path, &b, &err) < 0);
    assert_null(b);
    assert_non_null(strstr(err.msg, "cannot create it"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_lock),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
