/* test_domains.c - the three allocator domains (RAW, MEM, OBJ): spec-allocator.md §1.3/§1.4
 * and §7 items 1-7, 11, 26.
 *
 *   1  malloc(0) non-NULL and distinct          2  calloc(0,n) / calloc(n,0) non-NULL, distinct
 *   3  size > PTRDIFF_MAX: NULL, ENOMEM, realloc leaves p valid
 *   4  calloc overflow: NULL, ENOMEM           5  realloc(NULL,n) == malloc(n); realloc(p,0)
 *   6  free(NULL) no-op, errno kept            7  16-byte alignment
 *   11 512 bytes pymalloc, 513 and 0 bytes RAW (counting RAW hook)
 *   26 allocated_blocks +1 per MEM/OBJ block of any size, +0 for RAW
 */
#include "testhelper.h"
#include "phn_test_common.h"

typedef struct domain_fns {
    const char* name;
    int32_t id;
    void* (*malloc)(size_t);
    void* (*calloc)(size_t, size_t);
    void* (*realloc)(void*, size_t);
    void (*free)(void*);
} domain_fns;

static const domain_fns DOMAINS[3] = {
    {"RAW", PHN_DOMAIN_RAW, phn_raw_malloc, phn_raw_calloc, phn_raw_realloc, phn_raw_free},
    {"MEM", PHN_DOMAIN_MEM, phn_mem_malloc, phn_mem_calloc, phn_mem_realloc, phn_mem_free},
    {"OBJ", PHN_DOMAIN_OBJ, phn_obj_malloc, phn_obj_calloc, phn_obj_realloc, phn_obj_free},
};

/* Sizes the optimiser cannot see (gcc's alloc_size warnings would fire under -Werror). */
static volatile size_t too_big = (size_t)PTRDIFF_MAX + 1;
static volatile size_t size_max = SIZE_MAX;
static volatile size_t ptrdiff_max = (size_t)PTRDIFF_MAX;
static volatile size_t half_plus_one = (size_t)PTRDIFF_MAX / 2 + 1;
static volatile size_t two = 2;
static volatile size_t two_pow_33 = (size_t)1 << 33;

static char name_buf[160];
static const char* tname(const domain_fns* d, const char* what) {
    snprintf(name_buf, sizeof name_buf, "%s: %s", d->name, what);
    return name_buf;
}

static void test_zero_sizes(const domain_fns* d) {
    CHECK_BODY(tname(d, "malloc(0) twice: non-NULL, distinct (item 1)")) {
        void* a = d->malloc(0);
        void* b = d->malloc(0);
        result = a != NULL && b != NULL && U(a) != U(b);
        d->free(a);
        d->free(b);
    }
    CHECK_BODY(tname(d, "calloc(0,n), calloc(n,0), calloc(0,0): non-NULL, distinct (item 2)")) {
        void* a = d->calloc(0, 8);
        void* b = d->calloc(8, 0);
        void* c = d->calloc(0, 0);
        void* e = d->calloc(0, 8);
        result = a && b && c && e && U(a) != U(b) && U(a) != U(c) && U(b) != U(c) && U(a) != U(e) &&
                 U(b) != U(e) && U(c) != U(e);
        d->free(a);
        d->free(b);
        d->free(c);
        d->free(e);
    }
    CHECK_BODY(tname(d, "many malloc(0) blocks are all distinct and writable (1 byte)")) {
        void* p[64];
        result = true;
        for (int i = 0; i < 64; i++) {
            p[i] = d->malloc(0);
            if (!p[i]) { result = false; continue; }
            *(volatile unsigned char*)p[i] = (unsigned char)i;
            for (int j = 0; j < i; j++)
                if (p[j] && U(p[j]) == U(p[i])) result = false;
        }
        for (int i = 0; i < 64; i++)
            if (p[i] && *(volatile unsigned char*)p[i] != (unsigned char)i) result = false;
        for (int i = 0; i < 64; i++) d->free(p[i]);
    }
}

static void test_too_big(const domain_fns* d) {
    CHECK_BODY(tname(d, "malloc(PTRDIFF_MAX + 1): NULL, errno ENOMEM (item 3)")) {
        errno = 0;
        void* p = d->malloc(too_big);
        result = p == NULL && errno == ENOMEM;
        d->free(p);
    }
    CHECK_BODY(tname(d, "malloc(SIZE_MAX): NULL, errno ENOMEM")) {
        errno = 0;
        void* p = d->malloc(size_max);
        result = p == NULL && errno == ENOMEM;
        d->free(p);
    }
    CHECK_BODY(tname(d, "malloc(PTRDIFF_MAX) (passes the size check, cannot be served): NULL, ENOMEM")) {
        errno = 0;
        void* p = d->malloc(ptrdiff_max);
        result = p == NULL && errno == ENOMEM;
        d->free(p);
    }
    CHECK_BODY(tname(d, "calloc(2, PTRDIFF_MAX/2 + 1) overflows: NULL, ENOMEM (item 4)")) {
        errno = 0;
        void* p = d->calloc(two, half_plus_one);
        result = p == NULL && errno == ENOMEM;
        d->free(p);
    }
    CHECK_BODY(tname(d, "calloc(2^33, 2^33) overflows: NULL, ENOMEM (item 4)")) {
        errno = 0;
        void* p = d->calloc(two_pow_33, two_pow_33);
        result = p == NULL && errno == ENOMEM;
        d->free(p);
    }
    CHECK_BODY(tname(d, "calloc(PTRDIFF_MAX/2 + 1, 2) overflows: NULL, ENOMEM")) {
        errno = 0;
        void* p = d->calloc(half_plus_one, two);
        result = p == NULL && errno == ENOMEM;
        d->free(p);
    }
    static const size_t sizes[] = {1, 16, 100, 512, 513, 5000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        char what[96];
        snprintf(what, sizeof what, "failed realloc(p[%zu], PTRDIFF_MAX + 1 / SIZE_MAX / PTRDIFF_MAX) leaves p valid and intact", n);
        CHECK_BODY(tname(d, what)) {
            void* p = d->malloc(n);
            result = p != NULL;
            if (p) {
                fill_pattern(p, n, 0x5a);
                errno = 0;
                void* q1 = d->realloc(p, too_big);
                int e1 = errno;
                errno = 0;
                void* q2 = d->realloc(p, size_max);
                int e2 = errno;
                errno = 0;
                void* q3 = d->realloc(p, ptrdiff_max);
                int e3 = errno;
                result = q1 == NULL && e1 == ENOMEM && q2 == NULL && e2 == ENOMEM && q3 == NULL &&
                         e3 == ENOMEM && check_pattern(p, n, 0x5a);
                /* p is still a live block: it can still be resized and freed */
                void* r = d->realloc(p, n * 2);
                result = result && r != NULL && check_pattern(r, n, 0x5a);
                d->free(r ? r : p);
            }
        }
    }
}

static void test_realloc(const domain_fns* d) {
    CHECK_BODY(tname(d, "realloc(NULL, n) gives a usable block like malloc(n) (item 5)")) {
        result = true;
        static const size_t sizes[] = {0, 1, 15, 16, 17, 100, 512, 513, 4096};
        void* p[9];
        for (int i = 0; i < 9; i++) {
            p[i] = d->realloc(NULL, sizes[i]);
            if (!p[i] || (U(p[i]) & 15) != 0) result = false;
            else fill_pattern(p[i], sizes[i], (unsigned)i);
        }
        for (int i = 0; i < 9; i++)
            if (p[i] && !check_pattern(p[i], sizes[i], (unsigned)i)) result = false;
        for (int i = 0; i < 9; i++) d->free(p[i]);
    }
    CHECK_BODY(tname(d, "realloc(p, 0) returns a live non-NULL block, freed once (item 5)")) {
        result = true;
        static const size_t sizes[] = {1, 16, 100, 512, 513, 10000};
        for (int i = 0; i < 6; i++) {
            void* p = d->malloc(sizes[i]);
            if (!p) { result = false; continue; }
            void* q = d->realloc(p, 0);
            if (!q) { result = false; d->free(p); continue; }
            *(volatile unsigned char*)q = 0x42;  /* at least one usable byte */
            d->free(q);
        }
    }
    CHECK_BODY(tname(d, "realloc preserves min(old, new) bytes through a chain of sizes")) {
        static const size_t chain[] = {1, 10, 16, 17, 48, 100, 385, 512, 513, 1000, 5000, 100000,
                                       300000, 70000, 600, 511, 384, 300, 33, 20, 8, 1, 2, 0, 3};
        size_t n = sizeof chain / sizeof chain[0];
        result = true;
        void* p = d->malloc(chain[0]);
        size_t cur = chain[0];
        unsigned seed = 1;
        if (!p) result = false;
        else fill_pattern(p, cur, seed);
        for (size_t i = 1; i < n && p; i++) {
            size_t nw = chain[i];
            void* q = d->realloc(p, nw);
            if (!q) { result = false; break; }
            size_t keep = cur < nw ? cur : nw;
            if (!check_pattern(q, keep, seed)) {
                fprintf(stderr, "\n  %s: realloc %zu -> %zu lost content\n", d->name, cur, nw);
                result = false;
            }
            p = q;
            cur = nw;
            seed += 13;
            fill_pattern(p, cur, seed);
        }
        d->free(p);
    }
}

static void test_free_null_and_alignment(const domain_fns* d) {
    CHECK_BODY(tname(d, "free(NULL) is a no-op and keeps errno (item 6)")) {
        errno = 12345;
        d->free(NULL);
        int e1 = errno;
        errno = EINVAL;
        d->free(NULL);
        result = e1 == 12345 && errno == EINVAL;
    }
    CHECK_BODY(tname(d, "free of a live block keeps errno")) {
        void* a = d->malloc(24);
        void* b = d->malloc(2000);
        errno = 777;
        d->free(a);
        d->free(b);
        result = errno == 777;
    }
    CHECK_BODY(tname(d, "every block of 0..2000 bytes is 16-byte aligned (item 7)")) {
        enum { N = 2001 };
        void** p = (void**)calloc(N, sizeof(void*));
        result = p != NULL;
        for (size_t n = 0; p && n < N; n++) {
            p[n] = d->malloc(n);
            if (!p[n] || (U(p[n]) & 15) != 0) {
                if (result) fprintf(stderr, "\n  %s: malloc(%zu) = %p\n", d->name, n, p[n]);
                result = false;
            }
        }
        for (size_t n = 0; p && n < N; n++) d->free(p[n]);
        free(p);
    }
    CHECK_BODY(tname(d, "calloc and realloc results are 16-byte aligned (item 7)")) {
        result = true;
        for (size_t n = 0; n <= 1100; n += 7) {
            void* a = d->calloc(1, n);
            void* b = d->calloc(n, 3);
            void* c = d->malloc(n / 2 + 1);
            void* c2 = c ? d->realloc(c, n) : NULL;
            if (!a || !b || !c2 || (U(a) & 15) || (U(b) & 15) || (U(c2) & 15)) result = false;
            d->free(a);
            d->free(b);
            d->free(c2 ? c2 : c);
        }
    }
}

static void test_calloc_zeroes(const domain_fns* d) {
    CHECK_BODY(tname(d, "calloc zeroes the block even when it reuses dirty memory")) {
        static const size_t sizes[] = {1, 8, 16, 17, 33, 48, 100, 256, 500, 512, 513, 1000, 4096, 70000, 300000};
        result = true;
        for (int round = 0; round < 4; round++) {
            for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
                size_t n = sizes[k];
                void* dirty[8];
                for (int i = 0; i < 8; i++) {
                    dirty[i] = d->malloc(n);
                    if (dirty[i]) memset(dirty[i], 0xAB, n);
                }
                for (int i = 0; i < 8; i++) d->free(dirty[i]);
                void* z[8];
                for (int i = 0; i < 8; i++) {
                    size_t nelem = (i & 1) ? n : 1, elsize = (i & 1) ? 1 : n;
                    z[i] = d->calloc(nelem, elsize);
                    if (!z[i] || !all_zero(z[i], n)) {
                        if (result) fprintf(stderr, "\n  %s: calloc(%zu, %zu) not zeroed\n", d->name, nelem, elsize);
                        result = false;
                    }
                }
                for (int i = 0; i < 8; i++) d->free(z[i]);
            }
        }
    }
    CHECK_BODY(tname(d, "calloc(nelem, elsize) gives nelem * elsize usable zero bytes")) {
        void* p = d->calloc(37, 11);
        result = p != NULL && all_zero(p, 37 * 11);
        if (p) fill_pattern(p, 37 * 11, 3);
        result = result && p && check_pattern(p, 37 * 11, 3);
        d->free(p);
    }
}

/* item 11: what pymalloc serves and what goes to the RAW domain */
static void test_routing(void) {
    static counting_hook raw;
    CHECK("install a counting hook on RAW", hook_install(&raw, PHN_DOMAIN_RAW) == 0);
    for (int dom = 1; dom <= 2; dom++) {
        const domain_fns* d = &DOMAINS[dom];
        /* warm up: make sure a 512-byte pool with free blocks exists */
        void* warm = d->malloc(512);
        CHECK_BODY(tname(d, "malloc(512) is served by pymalloc, not RAW (item 11)")) {
            phn_stats s0 = stats_now();
            long m0 = HOOK_GET(raw.malloc_calls), c0 = HOOK_GET(raw.calloc_calls);
            void* p = d->malloc(512);
            phn_stats s1 = stats_now();
            result = p != NULL && HOOK_GET(raw.malloc_calls) == m0 && HOOK_GET(raw.calloc_calls) == c0 &&
                     s1.size_classes[31].blocks_in_use == s0.size_classes[31].blocks_in_use + 1 &&
                     s1.raw_allocated_blocks == s0.raw_allocated_blocks;
            d->free(p);
        }
        CHECK_BODY(tname(d, "malloc(513) goes to the RAW domain: RAW hook sees malloc(513) (item 11)")) {
            phn_stats s0 = stats_now();
            long m0 = HOOK_GET(raw.malloc_calls), f0 = HOOK_GET(raw.free_calls);
            void* p = d->malloc(513);
            phn_stats s1 = stats_now();
            result = p != NULL && HOOK_GET(raw.malloc_calls) == m0 + 1 && raw.last_malloc_size == 513 &&
                     U(raw.last_result) == U(p) && s1.raw_allocated_blocks == s0.raw_allocated_blocks + 1 &&
                     stats_blocks_in_use(&s1) == stats_blocks_in_use(&s0);
            d->free(p);
            phn_stats s2 = stats_now();
            result = result && HOOK_GET(raw.free_calls) == f0 + 1 && U(raw.last_free_ptr) == U(p) &&
                     s2.raw_allocated_blocks == s0.raw_allocated_blocks;
        }
        CHECK_BODY(tname(d, "malloc(0) goes to the RAW domain: RAW hook sees malloc(0) (item 11)")) {
            phn_stats s0 = stats_now();
            long m0 = HOOK_GET(raw.malloc_calls);
            void* p = d->malloc(0);
            phn_stats s1 = stats_now();
            result = p != NULL && HOOK_GET(raw.malloc_calls) == m0 + 1 && raw.last_malloc_size == 0 &&
                     s1.raw_allocated_blocks == s0.raw_allocated_blocks + 1 &&
                     stats_blocks_in_use(&s1) == stats_blocks_in_use(&s0);
            d->free(p);
        }
        CHECK_BODY(tname(d, "malloc(1..512) never calls the RAW hook")) {
            long m0 = HOOK_GET(raw.malloc_calls), c0 = HOOK_GET(raw.calloc_calls);
            void* p[512];
            result = true;
            for (int n = 1; n <= 512; n++)
                if (!(p[n - 1] = d->malloc((size_t)n))) result = false;
            result = result && HOOK_GET(raw.malloc_calls) == m0 && HOOK_GET(raw.calloc_calls) == c0;
            for (int n = 0; n < 512; n++) d->free(p[n]);
        }
        CHECK_BODY(tname(d, "calloc(1, 513) and calloc(0, 5) go to RAW calloc; calloc(4, 128) does not")) {
            long c0 = HOOK_GET(raw.calloc_calls);
            void* a = d->calloc(1, 513);
            int ok1 = HOOK_GET(raw.calloc_calls) == c0 + 1 && raw.last_calloc_nelem == 1 && raw.last_calloc_elsize == 513;
            void* b = d->calloc(0, 5);
            int ok2 = HOOK_GET(raw.calloc_calls) == c0 + 2 && raw.last_calloc_nelem == 0 && raw.last_calloc_elsize == 5;
            void* c = d->calloc(4, 128);
            int ok3 = HOOK_GET(raw.calloc_calls) == c0 + 2;
            result = a && b && c && ok1 && ok2 && ok3 && all_zero(a, 513) && all_zero(c, 512);
            d->free(a);
            d->free(b);
            d->free(c);
        }
        d->free(warm);
    }
    CHECK("remove the RAW hook", hook_uninstall(&raw) == 0);
}

/* item 26 */
static void test_allocated_blocks(void) {
    for (int dom = 1; dom <= 2; dom++) {
        const domain_fns* d = &DOMAINS[dom];
        static const size_t sizes[] = {0, 16, 1000};
        for (int k = 0; k < 3; k++) {
            char what[96];
            snprintf(what, sizeof what, "allocated_blocks +100 for 100 x malloc(%zu), back after free (item 26)", sizes[k]);
            CHECK_BODY(tname(d, what)) {
                phn_stats s0 = stats_now();
                void* p[100];
                for (int i = 0; i < 100; i++) p[i] = d->malloc(sizes[k]);
                phn_stats s1 = stats_now();
                result = s1.allocated_blocks == s0.allocated_blocks + 100;
                for (int i = 0; i < 100; i++) {
                    if (!p[i]) result = false;
                    d->free(p[i]);
                }
                phn_stats s2 = stats_now();
                result = result && s2.allocated_blocks == s0.allocated_blocks;
                if (!result)
                    fprintf(stderr, "\n  allocated_blocks %llu -> %llu -> %llu\n", (unsigned long long)s0.allocated_blocks,
                            (unsigned long long)s1.allocated_blocks, (unsigned long long)s2.allocated_blocks);
            }
        }
        CHECK_BODY(tname(d, "allocated_blocks counts calloc and realloc(NULL) blocks, realloc keeps the count")) {
            phn_stats s0 = stats_now();
            void* a = d->calloc(3, 5);
            void* b = d->realloc(NULL, 700);
            void* c = d->calloc(0, 1);
            phn_stats s1 = stats_now();
            void* a2 = d->realloc(a, 2000); /* pymalloc -> RAW */
            void* b2 = d->realloc(b, 30);   /* RAW stays RAW */
            phn_stats s2 = stats_now();
            result = a && b && c && a2 && b2 && s1.allocated_blocks == s0.allocated_blocks + 3 &&
                     s2.allocated_blocks == s0.allocated_blocks + 3;
            d->free(a2);
            d->free(b2);
            d->free(c);
            phn_stats s3 = stats_now();
            result = result && s3.allocated_blocks == s0.allocated_blocks;
        }
    }
    CHECK_BODY("RAW: allocated_blocks +0 for 100 x phn_raw_malloc(16) (item 26)") {
        phn_stats s0 = stats_now();
        void* p[100];
        for (int i = 0; i < 100; i++) p[i] = phn_raw_malloc(16);
        phn_stats s1 = stats_now();
        result = s1.allocated_blocks == s0.allocated_blocks && s1.raw_allocated_blocks == s0.raw_allocated_blocks;
        for (int i = 0; i < 100; i++) {
            if (!p[i]) result = false;
            phn_raw_free(p[i]);
        }
    }
}

int main(void) {
    alarm(120);
    for (int i = 0; i < 3; i++) {
        test_zero_sizes(&DOMAINS[i]);
        test_too_big(&DOMAINS[i]);
        test_realloc(&DOMAINS[i]);
        test_free_null_and_alignment(&DOMAINS[i]);
        test_calloc_zeroes(&DOMAINS[i]);
    }
    CHECK_BODY("MEM/OBJ: realloc(NULL, n) takes the block malloc(n) would (LIFO slot)") {
        result = true;
        for (int dom = 1; dom <= 2; dom++) {
            const domain_fns* d = &DOMAINS[dom];
            void* p = d->malloc(72);
            d->free(p);
            void* q = d->realloc(NULL, 72);
            if (!p || U(q) != U(p)) result = false;
            d->free(q);
        }
    }
    test_routing();
    test_allocated_blocks();
    CHECK_BODY("phn_validate() == 0 at the end") { result = phn_validate() == 0; }
    return print_test_summary();
}
