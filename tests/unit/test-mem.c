/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vhost/mem.c: the guest memory map, on real memfds. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/log.h"
#include "guest.h"
#include "mem.h"         /* vhost/ private */

#define PAGE 4096ull
#define GSIZE (64 * PAGE)
#define GPA0 0x40000000ull
#define UVA0 0x7f5500000000ull

struct fx {
    struct guest g;
    struct vu_mem m;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    guest_create(&f->g, "test-mem", GSIZE, GPA0, UVA0);
    pattern_fill(f->g.base, GSIZE, 7, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    vu_mem_clear(&f->m);
    guest_destroy(&f->g);
    free(f);
    return 0;
}

static struct vu_mem_region_desc desc(uint64_t gpa, uint64_t size, uint64_t uva, uint64_t off)
{
    struct vu_mem_region_desc d = {
        .guest_phys_addr = gpa, .memory_size = size, .userspace_addr = uva, .mmap_offset = off,
    };
    return d;
}

static void test_add_validation(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc d;

    /* Zero size. */
    d = desc(GPA0, 0, UVA0, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EINVAL);
    /* No fd. */
    d = desc(GPA0, PAGE, UVA0, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, -1), -EINVAL);
    /* gpa + size, uva + size, mmap_offset + size overflow. */
    d = desc(UINT64_MAX - PAGE + 2, PAGE, UVA0, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EINVAL);
    d = desc(GPA0, PAGE, UINT64_MAX - 10, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EINVAL);
    d = desc(GPA0, PAGE, UVA0, UINT64_MAX - PAGE + 1);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EINVAL);
    d = desc(GPA0, UINT64_MAX, UVA0, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EINVAL);
    /* Beyond the memfd's size: by size, and by offset + size. */
    d = desc(GPA0, GSIZE + PAGE, UVA0, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EINVAL);
    d = desc(GPA0, GSIZE, UVA0, PAGE);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EINVAL);
    /* Not a file descriptor at all. */
    d = desc(GPA0, PAGE, UVA0, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, 1000), -EBADF);
    assert_int_equal(f->m.n, 0);

    /* Exactly the file's size is fine, also with an offset. */
    d = desc(GPA0, GSIZE - PAGE, UVA0, PAGE);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);
    assert_int_equal(f->m.n, 1);
    assert_true(f->m.r[0].gpa == GPA0);
    assert_true(f->m.r[0].size == GSIZE - PAGE);
    assert_true(f->m.r[0].uva == UVA0);
    assert_true(f->m.r[0].mmap_offset == PAGE);
}

static void test_add_overlap(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc d;

    d = desc(GPA0, 16 * PAGE, UVA0, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);

    /* Overlap by gpa (uva elsewhere): inside, straddling either end, covering. */
    d = desc(GPA0 + PAGE, PAGE, UVA0 + 100 * PAGE, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EEXIST);
    d = desc(GPA0 - PAGE, 2 * PAGE, UVA0 + 100 * PAGE, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EEXIST);
    d = desc(GPA0 + 15 * PAGE, 2 * PAGE, UVA0 + 100 * PAGE, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EEXIST);
    d = desc(GPA0 - PAGE, 32 * PAGE, UVA0 + 100 * PAGE, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EEXIST);
    d = desc(GPA0 + 16 * PAGE - 1, 1, UVA0 + 100 * PAGE, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EEXIST);

    /* Overlap by uva (gpa elsewhere). */
    d = desc(GPA0 + 100 * PAGE, PAGE, UVA0 + 3 * PAGE, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EEXIST);
    d = desc(GPA0 + 100 * PAGE, 2 * PAGE, UVA0 - PAGE, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EEXIST);
    d = desc(GPA0 + 100 * PAGE, 2 * PAGE, UVA0 + 16 * PAGE - 1, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -EEXIST);
    assert_int_equal(f->m.n, 1);

    /* Adjacent on both sides in both spaces is not an overlap. */
    d = desc(GPA0 + 16 * PAGE, PAGE, UVA0 + 16 * PAGE, 16 * PAGE);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);
    d = desc(GPA0 - PAGE, PAGE, UVA0 - PAGE, 17 * PAGE);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);
    assert_int_equal(f->m.n, 3);
}

static void test_table_full(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc d;

    for (unsigned i = 0; i < VU_MAX_MEM_SLOTS; i++) {
        d = desc(GPA0 + i * 2 * PAGE, PAGE, UVA0 + i * 2 * PAGE, i % 8 * PAGE);
        assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);
    }
    assert_int_equal(f->m.n, VU_MAX_MEM_SLOTS);
    d = desc(GPA0 + 1000 * PAGE, PAGE, UVA0 + 1000 * PAGE, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), -ENOSPC);
    /* Every region still translates to its own bytes. */
    for (unsigned i = 0; i < VU_MAX_MEM_SLOTS; i++) {
        uint8_t *p = vu_mem_gpa_range(&f->m, GPA0 + i * 2 * PAGE + 5, 1);
        assert_non_null(p);
        assert_int_equal(*p, pattern_byte(7, i % 8 * PAGE + 5));
    }
    /* Removing one frees a slot. */
    d = desc(GPA0 + 6 * PAGE, PAGE, 0, 0);
    assert_int_equal(vu_mem_remove(&f->m, &d), 0);
    d = desc(GPA0 + 1000 * PAGE, PAGE, UVA0 + 1000 * PAGE, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);
}

static void test_translate_boundaries(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc d = desc(GPA0, 8 * PAGE, UVA0, 2 * PAGE);
    uint64_t len;
    uint8_t *p, *last;

    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);
    /* The mapping is shared with the file: bytes come from mmap_offset on. */
    p = vu_mem_gpa_range(&f->m, GPA0, 1);
    assert_non_null(p);
    assert_int_equal(*p, pattern_byte(7, 2 * PAGE));
    last = vu_mem_gpa_range(&f->m, GPA0 + 8 * PAGE - 1, 1);
    assert_non_null(last);
    assert_ptr_equal(last, p + 8 * PAGE - 1);
    assert_int_equal(*last, pattern_byte(7, 10 * PAGE - 1));
    /* Writes through the translation land in the file, and the other way. */
    *last = 0x5a;
    assert_int_equal(f->g.base[10 * PAGE - 1], 0x5a);
    f->g.base[2 * PAGE + 77] = 0xa5;
    assert_int_equal(((uint8_t *)vu_mem_gpa_range(&f->m, GPA0 + 77, 1))[0], 0xa5);

    /* One byte past either end. */
    assert_null(vu_mem_gpa_range(&f->m, GPA0 - 1, 1));
    assert_null(vu_mem_gpa_range(&f->m, GPA0 + 8 * PAGE, 1));
    assert_null(vu_mem_gpa_range(&f->m, GPA0 - 1, 2));
    assert_null(vu_mem_gpa_range(&f->m, GPA0 + 8 * PAGE - 1, 2));
    assert_non_null(vu_mem_gpa_range(&f->m, GPA0, 8 * PAGE));
    assert_null(vu_mem_gpa_range(&f->m, GPA0, 8 * PAGE + 1));
    assert_null(vu_mem_gpa_range(&f->m, GPA0, 0));
    assert_null(vu_mem_gpa_range(&f->m, GPA0 + 1, UINT64_MAX));
    assert_null(vu_mem_gpa_range(&f->m, UINT64_MAX, 1));

    /* vu_mem_gpa clamps *len to the region. */
    len = 100;
    assert_ptr_equal(vu_mem_gpa(&f->m, GPA0 + 8 * PAGE - 10, &len), last - 9);
    assert_int_equal(len, 10);
    len = UINT64_MAX;
    assert_ptr_equal(vu_mem_gpa(&f->m, GPA0, &len), p);
    assert_true(len == 8 * PAGE);
    len = 0;
    assert_null(vu_mem_gpa(&f->m, GPA0, &len));
    len = 5;
    assert_null(vu_mem_gpa(&f->m, GPA0 + 8 * PAGE, &len));

    /* uva translation: same bytes, same bounds. */
    assert_ptr_equal(vu_mem_uva_range(&f->m, UVA0, 1), p);
    assert_ptr_equal(vu_mem_uva_range(&f->m, UVA0 + 8 * PAGE - 1, 1), last);
    assert_ptr_equal(vu_mem_uva_range(&f->m, UVA0, 8 * PAGE), p);
    assert_null(vu_mem_uva_range(&f->m, UVA0, 8 * PAGE + 1));
    assert_null(vu_mem_uva_range(&f->m, UVA0 - 1, 1));
    assert_null(vu_mem_uva_range(&f->m, UVA0 + 8 * PAGE, 1));
    assert_null(vu_mem_uva_range(&f->m, UVA0 + 8 * PAGE - 1, 2));
    assert_null(vu_mem_uva_range(&f->m, UVA0, 0));
    assert_null(vu_mem_uva_range(&f->m, UVA0 + 1, UINT64_MAX));
    /* A gpa is not a uva and vice versa. */
    assert_null(vu_mem_uva_range(&f->m, GPA0, 1));
    assert_null(vu_mem_gpa_range(&f->m, UVA0, 1));
}

static void test_gpa_across_regions(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc lo = desc(GPA0, 4 * PAGE, UVA0, 0);
    struct vu_mem_region_desc hi = desc(GPA0 + 4 * PAGE, 4 * PAGE, UVA0 + 0x100000, 4 * PAGE);
    uint64_t len, gpa = GPA0 + 4 * PAGE - 100;
    uint8_t buf[300], *p;
    size_t done = 0;

    /* Two adjacent regions backed by different mappings of one file. */
    assert_int_equal(vu_mem_add(&f->m, &hi, f->g.fd), 0);
    assert_int_equal(vu_mem_add(&f->m, &lo, f->g.fd), 0);
    /* A range across the boundary is contiguous in gpa but needs two pieces. */
    len = sizeof(buf);
    p = vu_mem_gpa(&f->m, gpa, &len);
    assert_non_null(p);
    assert_int_equal(len, 100);
    memcpy(buf, p, len);
    done = len;
    len = sizeof(buf) - done;
    p = vu_mem_gpa(&f->m, gpa + done, &len);
    assert_non_null(p);
    assert_int_equal(len, 200);
    memcpy(buf + done, p, len);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], pattern_byte(7, 4 * PAGE - 100 + i));
    /* ...and a whole-range lookup refuses it. */
    assert_null(vu_mem_gpa_range(&f->m, gpa, sizeof(buf)));
    assert_non_null(vu_mem_gpa_range(&f->m, gpa, 100));
    assert_non_null(vu_mem_gpa_range(&f->m, gpa + 100, 200));
    /* uva ranges are not adjacent here: each region on its own. */
    assert_non_null(vu_mem_uva_range(&f->m, UVA0 + 0x100000, 4 * PAGE));
    assert_null(vu_mem_uva_range(&f->m, UVA0 + 4 * PAGE, 1));
    /* A gap between regions: clamped at the end of the first, nothing after. */
    len = 2 * PAGE;
    assert_non_null(vu_mem_gpa(&f->m, GPA0 + 7 * PAGE, &len));
    assert_int_equal(len, PAGE);
    len = 1;
    assert_null(vu_mem_gpa(&f->m, GPA0 + 8 * PAGE, &len));
}

static void test_remove(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc r[3] = {
        desc(GPA0, PAGE, UVA0, 0),
        desc(GPA0 + 4 * PAGE, 2 * PAGE, UVA0 + 4 * PAGE, 4 * PAGE),
        desc(GPA0 + 8 * PAGE, PAGE, UVA0 + 8 * PAGE, 8 * PAGE),
    };
    struct vu_mem_region_desc d;

    for (int i = 0; i < 3; i++)
        assert_int_equal(vu_mem_add(&f->m, &r[i], f->g.fd), 0);
    /* The fd is not consumed: closing our copy keeps the mappings valid. */
    int fd2 = dup(f->g.fd);
    d = desc(GPA0 + 12 * PAGE, PAGE, UVA0 + 12 * PAGE, 12 * PAGE);
    assert_int_equal(vu_mem_add(&f->m, &d, fd2), 0);
    close(fd2);
    assert_int_equal(((uint8_t *)vu_mem_gpa_range(&f->m, GPA0 + 12 * PAGE + 3, 1))[0],
                     pattern_byte(7, 12 * PAGE + 3));

    /* Must match gpa and size. */
    d = desc(GPA0, 2 * PAGE, 0, 0);
    assert_int_equal(vu_mem_remove(&f->m, &d), -ENOENT);
    d = desc(GPA0 + PAGE, PAGE, 0, 0);
    assert_int_equal(vu_mem_remove(&f->m, &d), -ENOENT);
    assert_int_equal(f->m.n, 4);

    /* Remove the first: the others keep translating correctly. */
    assert_int_equal(vu_mem_remove(&f->m, &r[0]), 0);
    assert_int_equal(f->m.n, 3);
    assert_null(vu_mem_gpa_range(&f->m, GPA0, 1));
    assert_null(vu_mem_uva_range(&f->m, UVA0, 1));
    assert_int_equal(((uint8_t *)vu_mem_gpa_range(&f->m, GPA0 + 5 * PAGE + 9, 1))[0],
                     pattern_byte(7, 5 * PAGE + 9));
    assert_int_equal(((uint8_t *)vu_mem_uva_range(&f->m, UVA0 + 8 * PAGE, 1))[0],
                     pattern_byte(7, 8 * PAGE));
    assert_int_equal(((uint8_t *)vu_mem_gpa_range(&f->m, GPA0 + 12 * PAGE, 1))[0],
                     pattern_byte(7, 12 * PAGE));
    /* Twice: gone. */
    assert_int_equal(vu_mem_remove(&f->m, &r[0]), -ENOENT);
    /* The freed range can be added again (also with a different offset). */
    d = desc(GPA0, PAGE, UVA0, 3 * PAGE);
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);
    assert_int_equal(((uint8_t *)vu_mem_gpa_range(&f->m, GPA0, 1))[0], pattern_byte(7, 3 * PAGE));

    /* Clear drops everything and unmaps. */
    vu_mem_clear(&f->m);
    assert_int_equal(f->m.n, 0);
    assert_null(vu_mem_gpa_range(&f->m, GPA0 + 4 * PAGE, 1));
}

static void test_unmapped_after_clear(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc d = desc(GPA0, PAGE, UVA0, 0);
    struct guest g2;

    /* A second guest with a unique name so its mappings can be counted. */
    guest_create(&g2, "test-mem-unmap", 4 * PAGE, GPA0, UVA0);
    munmap(g2.base, g2.size);
    g2.base = NULL;
    assert_false(mapped("test-mem-unmap"));
    assert_int_equal(vu_mem_add(&f->m, &d, g2.fd), 0);
    assert_true(mapped("test-mem-unmap"));
    assert_int_equal(vu_mem_remove(&f->m, &d), 0);
    assert_false(mapped("test-mem-unmap"));
    assert_int_equal(vu_mem_add(&f->m, &d, g2.fd), 0);
    vu_mem_clear(&f->m);
    assert_false(mapped("test-mem-unmap"));
    /* A refused region leaves no mapping behind either. */
    d = desc(GPA0, 8 * PAGE, UVA0, 0);
    assert_int_equal(vu_mem_add(&f->m, &d, g2.fd), -EINVAL);
    assert_false(mapped("test-mem-unmap"));
    guest_destroy(&g2);
}

/* The frontend shrinks the file under a mapped region: touching it would
 * raise SIGBUS. The guard turns the region into zero pages, sets the
 * owner's broken flag, and the process goes on. */
static void test_shrink_under_region(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc d = desc(GPA0, GSIZE, UVA0, 0);
    static volatile bool broken;
    volatile uint8_t *p;
    uint8_t before;
    int maps0 = count_mappings("test-mem");

    broken = false;
    f->m.owner = "test-mem";
    f->m.broken = &broken;
    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);
    assert_false(f->m.r[0].sealed);          /* a plain memfd cannot be sealed */
    p = vu_mem_gpa_range(&f->m, GPA0 + GSIZE - PAGE, PAGE);
    assert_non_null(p);
    before = p[0];
    assert_int_equal(before, pattern_byte(7, GSIZE - PAGE));
    assert_false(vu_mem_guard_faulted(f->m.r[0].guard));

    assert_int_equal(ftruncate(f->g.fd, PAGE), 0);
    assert_int_equal(p[1], 0);               /* past the new end: zero, no SIGBUS */
    p[2] = 0x5a;                             /* writes land in private memory */
    assert_int_equal(p[2], 0x5a);
    assert_true(broken);
    assert_true(vu_mem_guard_faulted(f->m.r[0].guard));
    /* The whole region was replaced, also the part the file still has. */
    assert_int_equal(((volatile uint8_t *)vu_mem_gpa_range(&f->m, GPA0, 1))[0], 0);
    /* Clearing unmaps the replacement like the original. */
    munmap(f->g.base, f->g.size);            /* the test's own: untouched since */
    f->g.base = NULL;
    vu_mem_clear(&f->m);
    assert_int_equal(count_mappings("test-mem"), maps0 - 1);
    assert_ptr_equal(f->m.broken, &broken);   /* the owner's settings stay */
}

/* A memfd sealed against shrinking is recorded as such (and cannot shrink). */
static void test_sealed_region(void **state)
{
    struct fx *f = *state;
    int fd = memfd_create("test-mem-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    struct vu_mem_region_desc d = desc(GPA0, 4 * PAGE, UVA0, 0);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 * PAGE), 0);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    assert_int_equal(vu_mem_add(&f->m, &d, fd), 0);
    assert_true(f->m.r[0].sealed);
    assert_int_not_equal(ftruncate(fd, PAGE), 0);
    close(fd);
}

/* A SIGBUS outside guest memory still ends the process as before. */
static void test_foreign_sigbus_not_swallowed(void **state)
{
    struct fx *f = *state;
    struct vu_mem_region_desc d = desc(GPA0, PAGE, UVA0, 0);
    int status;
    pid_t pid;

    assert_int_equal(vu_mem_add(&f->m, &d, f->g.fd), 0);   /* guard installed */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = memfd_create("test-mem-foreign", 0);
        volatile uint8_t *q;
        signal(SIGBUS, SIG_DFL);   /* cmocka's handler would report, not die */
        assert_int_equal(vu_mem_add(&f->m, &(struct vu_mem_region_desc){ GPA0 + PAGE, PAGE, UVA0 + PAGE, PAGE }, f->g.fd), 0);
        if (fd < 0 || ftruncate(fd, PAGE) < 0)
            _exit(2);
        q = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
        if (q == MAP_FAILED || ftruncate(fd, 0) < 0)
            _exit(2);
        (void)q[0];
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGBUS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_translate_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpa_across_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmapped_after_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shrink_under_region, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_region, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_sigbus_not_swallowed, setup, teardown),
    };
    log_init("test-mem", false, getenv("SLUICE_TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
