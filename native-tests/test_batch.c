/* test_batch.c - phn_obj_malloc_many / phn_obj_free_many: the same blocks as one call per
 * block would give (pymalloc's classes, the RAW fallback, counts and traces), in one call. */
#include <pyheapnative.h>

#include <stdint.h>
#include <string.h>

#include "testhelper.h"

static uint64_t allocated_blocks(void) {
    phn_stats s;
    s.struct_size = sizeof s;
    return phn_get_stats(&s) == PHN_OK ? s.allocated_blocks : UINT64_MAX;
}

static uint64_t raw_blocks(void) {
    phn_stats s;
    s.struct_size = sizeof s;
    return phn_get_stats(&s) == PHN_OK ? s.raw_allocated_blocks : UINT64_MAX;
}

static int distinct_aligned_writable(void** p, size_t n, size_t size) {
    for (size_t i = 0; i < n; i++) {
        if (p[i] == NULL || ((uintptr_t)p[i] & 15) != 0) return 0;
        if (size) memset(p[i], (int)(i & 0xff), size);
    }
    for (size_t i = 0; i < n; i++)
        if (size && ((unsigned char*)p[i])[size - 1] != (unsigned char)(i & 0xff)) return 0;
    for (size_t i = 1; i < n; i++)   /* overlapping blocks would have clobbered each other above */
        if ((uintptr_t)p[i] == (uintptr_t)p[i - 1]) return 0;
    return 1;
}

enum { N = 5000 };
static void* blocks[N];

int main(void) {
    phn_init();
    uint64_t base = allocated_blocks(), raw = raw_blocks();

    CHECK_BODY("5000 blocks of 48 bytes: all allocated, distinct, aligned, writable, counted, from pymalloc") {
        size_t got = phn_obj_malloc_many(48, N, blocks);
        result = got == N && distinct_aligned_writable(blocks, N, 48) &&
                 allocated_blocks() == base + N && raw_blocks() == raw;
    }
    CHECK_BODY("phn_obj_free_many frees them all; phn_validate holds") {
        phn_obj_free_many(blocks, N);
        result = allocated_blocks() == base && phn_validate() == PHN_OK;
    }
    CHECK_BODY("a batch reuses the blocks a batch freed (LIFO, as single calls)") {
        void* a[8];
        void* b[8];
        result = phn_obj_malloc_many(40, 8, a) == 8;
        phn_obj_free_many(a, 8);
        result = result && phn_obj_malloc_many(40, 8, b) == 8;
        /* freed in order 0..7, so the free list hands them back 7..0 */
        for (int i = 0; i < 8 && result; i++) result = b[i] == a[7 - i];
        phn_obj_free_many(b, 8);
    }
    CHECK_BODY("sizes 0 and 513 go to RAW (raw_allocated_blocks), like phn_obj_malloc") {
        void* z[10];
        void* big[10];
        result = phn_obj_malloc_many(0, 10, z) == 10 && phn_obj_malloc_many(513, 10, big) == 10 &&
                 distinct_aligned_writable(z, 10, 0) && distinct_aligned_writable(big, 10, 513) &&
                 raw_blocks() == raw + 20 && allocated_blocks() == base + 20;
        phn_obj_free_many(z, 10);
        phn_obj_free_many(big, 10);
        result = result && raw_blocks() == raw && allocated_blocks() == base;
    }
    CHECK_BODY("free_many of a mix: pymalloc blocks of several classes, RAW blocks, NULL entries") {
        void* mix[64];
        for (int i = 0; i < 64; i++)
            mix[i] = i % 7 == 0 ? NULL : phn_obj_malloc((size_t)(i * 37 % 1200));
        phn_obj_free_many(mix, 64);
        result = allocated_blocks() == base && raw_blocks() == raw && phn_validate() == PHN_OK;
    }
    CHECK_BODY("blocks of a batch can be freed one by one, and single blocks in a batch") {
        void* a[16];
        result = phn_obj_malloc_many(100, 16, a) == 16;
        for (int i = 0; i < 8; i++) phn_obj_free(a[i]);
        phn_obj_free_many(a + 8, 8);
        void* s[4] = { phn_obj_malloc(10), phn_obj_malloc(300), phn_obj_malloc(3000), phn_obj_malloc(0) };
        phn_obj_free_many(s, 4);
        result = result && allocated_blocks() == base && phn_validate() == PHN_OK;
    }
    CHECK_BODY("n = 0 allocates nothing and may take NULL out") {
        result = phn_obj_malloc_many(32, 0, NULL) == 0 && allocated_blocks() == base;
        phn_obj_free_many(NULL, 0);
    }
    CHECK_BODY("out NULL with n > 0: 0 and PHN_EINVAL, nothing allocated") {
        phn_clear_error();
        result = phn_obj_malloc_many(32, 4, NULL) == 0 && phn_last_error_code() == PHN_EINVAL &&
                 allocated_blocks() == base;
    }
    CHECK_BODY("size above PTRDIFF_MAX: 0, ENOMEM, out all NULL, nothing allocated") {
        void* o[3] = { (void*)1, (void*)1, (void*)1 };
        volatile size_t huge = (size_t)PTRDIFF_MAX + 1;
        errno = 0;
        result = phn_obj_malloc_many(huge, 3, o) == 0 && errno == ENOMEM && o[0] == NULL && o[2] == NULL &&
                 allocated_blocks() == base;
    }
    CHECK_BODY("while tracing, every block of a batch is traced once with its size") {
        void* a[100];
        size_t cur = 0, peak = 0;
        result = phn_tracemalloc_start(1) == PHN_OK && phn_obj_malloc_many(24, 100, a) == 100;
        phn_tracemalloc_get_traced_memory(&cur, &peak);
        result = result && cur == 2400;
        phn_obj_free_many(a, 100);
        phn_tracemalloc_get_traced_memory(&cur, &peak);
        result = result && cur == 0 && peak == 2400;
        phn_tracemalloc_stop();
    }
    CHECK("at the end: every count back, heap valid", allocated_blocks() == base && phn_validate() == PHN_OK);
    return print_test_summary();
}
