/* test_pymalloc.c - pymalloc's pools and size classes: spec-allocator.md §2.2-§2.6 and §7
 * items 12-19 and 25 (item 22, the arena order, is in test_arenas.c, which controls the
 * arenas with its own arena allocator).
 *
 *   12 class index (n-1) >> 4                   13 malloc(17): 32 bytes apart, first at base + 48
 *   14 capacities 1021 (16 B) ... 31 (512 B)    15 LIFO reuse          16 full pool -> list front
 *   17 realloc 512->385 same, 512->384 moves    18 realloc(p, 0) moves to RAW
 *   19 growth above 512 -> RAW; RAW shrink stays RAW
 *   25 phn_obj_free / phn_obj_realloc of RAW pointers go to RAW
 *
 * The geometry checks run first, in a process where nothing has freed a pymalloc block yet,
 * so that a pool whose first block sits at offset 48 is a freshly carved one. */
#include "testhelper.h"
#include "phn_test_common.h"

static void* keep[200000];
static size_t nkeep;

static void* keep_alloc(size_t n) {
    void* p = phn_obj_malloc(n);
    if (p && nkeep < sizeof keep / sizeof keep[0]) keep[nkeep++] = p;
    return p;
}

/* Allocate blocks of n bytes until one is the first block of a pool (offset 48); the blocks
 * before it are kept alive. NULL if none within limit allocations. */
static void* fresh_pool_block(size_t n, size_t limit) {
    for (size_t i = 0; i < limit; i++) {
        void* p = keep_alloc(n);
        if (!p) return NULL;
        if (pool_offset(p) == PHN_POOL_OVERHEAD) return p;
    }
    return NULL;
}

/* Starting from p0 = the first block of a fresh pool, allocate blocks of n bytes while they
 * land in p0's pool. Returns how many blocks the pool held (including p0); *spacing_ok says
 * whether every block was exactly block_size after the previous one. The first block
 * outside the pool is returned in *next. */
static size_t fill_pool(void* p0, size_t n, size_t block_size, int* spacing_ok, void** next) {
    uintptr_t base = pool_of(p0), prev = U(p0);
    size_t count = 1;
    *spacing_ok = 1;
    *next = NULL;
    for (;;) {
        void* p = keep_alloc(n);
        if (!p) { *spacing_ok = 0; break; }
        if (pool_of(p) != base) { *next = p; break; }
        if (U(p) != prev + block_size) *spacing_ok = 0;
        prev = U(p);
        count++;
        if (count > 2000) { *spacing_ok = 0; break; }
    }
    return count;
}

static void test_item13_malloc17(void) {
    void* p0 = fresh_pool_block(17, 2000);
    CHECK_BODY("a fresh pool's first malloc(17) block sits at pool base + 48 (item 13)") {
        result = p0 != NULL && pool_offset(p0) == 48;
    }
    if (!p0) return;
    CHECK_BODY("consecutive malloc(17) in a fresh pool: exactly 32 bytes apart, ascending (item 13)") {
        result = true;
        uintptr_t prev = U(p0);
        for (int i = 1; i < 100; i++) {
            void* p = keep_alloc(17);
            if (!p || U(p) != prev + 32) {
                fprintf(stderr, "\n  block %d at %p, previous %p\n", i, p, (void*)prev);
                result = false;
                break;
            }
            prev = U(p);
        }
    }
}

/* item 14 (+ 13's rule for every class): each class's fresh pool holds
 * (16384 - 48) / block_size blocks, consecutive and ascending. */
static void test_item14_capacities(void) {
    phn_stats s = stats_now();
    CHECK_BODY("stats: block_size (i+1)*16 and blocks_per_pool (16384-48)/size; 1021 for class 0, 31 for class 31 (item 14)") {
        result = s.num_size_classes == 32 && s.size_classes[0].blocks_per_pool == 1021 &&
                 s.size_classes[31].blocks_per_pool == 31 && s.size_classes[0].block_size == 16 &&
                 s.size_classes[31].block_size == 512 && s.size_classes[1].blocks_per_pool == 510 &&
                 s.size_classes[2].blocks_per_pool == 340 && s.size_classes[23].blocks_per_pool == 42;
        for (int i = 0; i < 32; i++) {
            uint32_t size = (uint32_t)(i + 1) * 16;
            if (s.size_classes[i].block_size != size || s.size_classes[i].blocks_per_pool != 16336 / size)
                result = false;
        }
    }
    int bad = 0;
    size_t cap0 = 0, cap31 = 0;
    for (int i = 0; i < 32; i++) {
        size_t bs = (size_t)(i + 1) * 16;
        size_t n = bs - (size_t)(i % 16);  /* any size of the class */
        void* p0 = fresh_pool_block(n, 2100);
        int spacing_ok = 0;
        void* next = NULL;
        size_t cap = p0 ? fill_pool(p0, n, bs, &spacing_ok, &next) : 0;
        if (i == 0) cap0 = cap;
        if (i == 31) cap31 = cap;
        if (!p0 || cap != 16336 / bs || !spacing_ok || !next || pool_offset(next) != 48) {
            fprintf(stderr, "\n  class %d (malloc(%zu)): fresh block %p, pool held %zu blocks (expected %zu), spacing %s, next %p\n",
                    i, n, p0, cap, 16336 / bs, spacing_ok ? "ok" : "WRONG", next);
            bad++;
        }
    }
    CHECK_BODY("a fresh class-0 (16 B) pool holds 1021 blocks (item 14)") { result = cap0 == 1021; }
    CHECK_BODY("a fresh class-31 (512 B) pool holds 31 blocks (item 14)") { result = cap31 == 31; }
    CHECK_BODY("every class: a fresh pool holds (16384-48)/size blocks, block_size apart, from offset 48 (items 13, 14)") {
        result = bad == 0;
    }
    phn_stats s2 = stats_now();
    CHECK_BODY("stats after filling one pool per class: full_pools rose in every class, stats consistent") {
        result = stats_consistent(&s2);
        for (int i = 0; i < 32; i++)
            if (s2.size_classes[i].full_pools < s.size_classes[i].full_pools + 1) result = false;
    }
}

/* item 12 */
static void test_item12_class_index(void) {
    CHECK_BODY("OBJ malloc(n) for n = 1..512 uses class (n-1) >> 4 and no other (item 12)") {
        result = true;
        for (size_t n = 1; n <= 512; n++) {
            phn_stats a = stats_now();
            void* p = keep_alloc(n);
            phn_stats b = stats_now();
            size_t want = (n - 1) >> 4;
            for (size_t k = 0; k < 32; k++) {
                uint64_t d = b.size_classes[k].blocks_in_use - a.size_classes[k].blocks_in_use;
                if (d != (k == want ? 1u : 0u)) {
                    if (result) fprintf(stderr, "\n  malloc(%zu): class %zu changed by %lld\n", n, k, (long long)d);
                    result = false;
                }
            }
            if (!p) result = false;
        }
    }
    CHECK_BODY("MEM malloc(n) for n = 1..512 uses class (n-1) >> 4 (item 12)") {
        result = true;
        for (size_t n = 1; n <= 512; n += 5) {
            phn_stats a = stats_now();
            void* p = phn_mem_malloc(n);
            phn_stats b = stats_now();
            size_t want = (n - 1) >> 4;
            if (!p || b.size_classes[want].blocks_in_use != a.size_classes[want].blocks_in_use + 1 ||
                stats_blocks_in_use(&b) != stats_blocks_in_use(&a) + 1)
                result = false;
            phn_mem_free(p);
        }
    }
}

/* item 16: a full pool that gets a block back goes to the front of its class list */
static void test_item16_full_pool_front(void) {
    const size_t n = 330, bs = 336;  /* class 20, 48 blocks per pool */
    void* a0 = fresh_pool_block(n, 100);
    int spacing_ok = 0;
    void* b0 = NULL;
    size_t cap = a0 ? fill_pool(a0, n, bs, &spacing_ok, &b0) : 0;  /* pool A full, B started */
    void* b1 = keep_alloc(n);
    void* b2 = keep_alloc(n);
    CHECK_BODY("setup: pool A full (48 blocks), pool B fresh with 3 blocks") {
        result = a0 && cap == 48 && b0 && b1 && b2 && pool_offset(b0) == 48 && pool_of(b1) == pool_of(b0) &&
                 U(b1) == U(b0) + bs && U(b2) == U(b1) + bs;
    }
    if (!a0 || !b0 || !b1 || !b2) return;
    void* x = (void*)(U(a0) + 10 * bs);  /* the 11th block of the full pool A */
    phn_obj_free(x);
    /* x must not be in keep[] any more: replace its entry */
    for (size_t i = 0; i < nkeep; i++)
        if (U(keep[i]) == U(x)) keep[i] = NULL;
    void* y = keep_alloc(n - 7);
    void* z = keep_alloc(n);
    CHECK_BODY("block freed in a full pool is reused next, ahead of the partly used pool B (item 16)") {
        result = y != NULL && U(y) == U(x);
    }
    CHECK_BODY("then pool A is full again and allocation continues in pool B (item 16)") {
        result = z != NULL && pool_of(z) == pool_of(b0) && U(z) == U(b2) + bs;
    }
}

/* item 15 */
static void test_item15_lifo(void) {
    CHECK_BODY("OBJ: free(malloc(40)) then malloc(33) returns the same block (item 15)") {
        void* p = phn_obj_malloc(40);
        phn_obj_free(p);
        void* q = phn_obj_malloc(33);
        result = p && U(q) == U(p);
        phn_obj_free(q);
    }
    CHECK_BODY("MEM: free(malloc(40)) then malloc(33) returns the same block (item 15)") {
        void* p = phn_mem_malloc(40);
        phn_mem_free(p);
        void* q = phn_mem_malloc(33);
        result = p && U(q) == U(p);
        phn_mem_free(q);
    }
    CHECK_BODY("MEM and OBJ share pymalloc: a block freed by phn_mem_free is the next phn_obj_malloc of its class") {
        void* p = phn_mem_malloc(100);
        phn_mem_free(p);
        void* q = phn_obj_malloc(97);
        result = p && U(q) == U(p);
        phn_obj_free(q);
    }
    CHECK_BODY("free a, b, c (same class) then three mallocs return c, b, a (LIFO, item 15)") {
        void* a = phn_obj_malloc(200);
        void* b = phn_obj_malloc(200);
        void* c = phn_obj_malloc(200);
        phn_obj_free(a);
        phn_obj_free(b);
        phn_obj_free(c);
        void* x = phn_obj_malloc(193);
        void* y = phn_obj_malloc(208);
        void* z = phn_obj_malloc(200);
        result = a && b && c && U(x) == U(c) && U(y) == U(b) && U(z) == U(a);
        phn_obj_free(x);
        phn_obj_free(y);
        phn_obj_free(z);
    }
    CHECK_BODY("a freed block is not reused by another size class") {
        void* p = phn_obj_malloc(40);   /* class 2 */
        phn_obj_free(p);
        void* q = phn_obj_malloc(64);   /* class 3 */
        void* r = phn_obj_malloc(48);   /* class 2 again: p */
        result = p && q && U(q) != U(p) && U(r) == U(p);
        phn_obj_free(q);
        phn_obj_free(r);
    }
}

typedef void* (*realloc_fn)(void*, size_t);
typedef void* (*malloc_fn)(size_t);
typedef void (*free_fn)(void*);

/* item 17 and the 25 % shrink rule */
static void test_item17_realloc(const char* dom, malloc_fn m, realloc_fn r, free_fn f) {
    char name[160];
    snprintf(name, sizeof name, "%s: realloc(p512, 385) returns p (item 17)", dom);
    CHECK_BODY(name) {
        void* p = m(512);
        if (p) fill_pattern(p, 512, 9);
        void* q = p ? r(p, 385) : NULL;
        result = p && U(q) == U(p) && check_pattern(q, 385, 9);
        f(q ? q : p);
    }
    snprintf(name, sizeof name, "%s: realloc(p512, 384) moves, first 384 bytes preserved (item 17)", dom);
    CHECK_BODY(name) {
        void* p = m(512);
        if (p) fill_pattern(p, 512, 11);
        void* q = p ? r(p, 384) : NULL;
        result = p && q && U(q) != U(p) && check_pattern(q, 384, 11);
        f(q ? q : p);
    }
    snprintf(name, sizeof name, "%s: realloc keeps the block iff n <= size and 4n > 3*size (20->32, 32->25 keep; 32->24, 32->33 move)", dom);
    CHECK_BODY(name) {
        struct { size_t from, to; int same; } cases[] = {
            {20, 32, 1}, {32, 25, 1}, {32, 24, 0}, {32, 33, 0}, {17, 32, 1}, {100, 96, 1},
            {96, 73, 1}, {96, 72, 0}, {256, 193, 1}, {256, 192, 0}, {48, 37, 1}, {48, 36, 0},
            {16, 1, 0}, {16, 13, 1}, {16, 12, 0}, {500, 512, 1}, {512, 513, 0},
        };
        result = true;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            void* p = m(cases[i].from);
            if (!p) { result = false; continue; }
            fill_pattern(p, cases[i].from, (unsigned)i);
            void* q = r(p, cases[i].to);
            size_t keepn = cases[i].from < cases[i].to ? cases[i].from : cases[i].to;
            int same = U(q) == U(p);
            if (!q || same != cases[i].same || !check_pattern(q, keepn, (unsigned)i)) {
                fprintf(stderr, "\n  %s realloc(%zu -> %zu): %s (expected %s)\n", dom, cases[i].from, cases[i].to,
                        !q ? "NULL" : same ? "same block" : "moved", cases[i].same ? "same block" : "moved");
                result = false;
            }
            f(q ? q : p);
        }
    }
}

/* items 18, 19 */
static void test_items18_19_realloc_raw(void) {
    static counting_hook raw;
    CHECK("install a counting hook on RAW", hook_install(&raw, PHN_DOMAIN_RAW) == 0);

    CHECK_BODY("realloc(p, 0) of a pymalloc block: new non-NULL block from RAW (hook sees malloc(0)) (item 18)") {
        void* p = phn_obj_malloc(64);
        phn_stats s0 = stats_now();
        long m0 = HOOK_GET(raw.malloc_calls);
        void* q = phn_obj_realloc(p, 0);
        phn_stats s1 = stats_now();
        result = p && q && U(q) != U(p) && HOOK_GET(raw.malloc_calls) == m0 + 1 && raw.last_malloc_size == 0 &&
                 U(raw.last_result) == U(q) && s1.raw_allocated_blocks == s0.raw_allocated_blocks + 1 &&
                 s1.size_classes[3].blocks_in_use == s0.size_classes[3].blocks_in_use - 1 &&
                 s1.allocated_blocks == s0.allocated_blocks;
        long f0 = HOOK_GET(raw.free_calls);
        phn_obj_free(q ? q : p);
        result = result && HOOK_GET(raw.free_calls) == f0 + 1 && U(raw.last_free_ptr) == U(q);
    }
    CHECK_BODY("MEM realloc(p, 0) of a pymalloc block also moves to RAW (item 18)") {
        void* p = phn_mem_malloc(100);
        long m0 = HOOK_GET(raw.malloc_calls);
        void* q = phn_mem_realloc(p, 0);
        result = p && q && U(q) != U(p) && HOOK_GET(raw.malloc_calls) == m0 + 1 && raw.last_malloc_size == 0;
        phn_mem_free(q ? q : p);
    }
    CHECK_BODY("growing a pymalloc block above 512 moves it to RAW, contents kept (item 19)") {
        void* p = phn_obj_malloc(200);
        if (p) fill_pattern(p, 200, 21);
        phn_stats s0 = stats_now();
        long m0 = HOOK_GET(raw.malloc_calls), r0 = HOOK_GET(raw.realloc_calls);
        void* q = p ? phn_obj_realloc(p, 600) : NULL;
        phn_stats s1 = stats_now();
        result = p && q && U(q) != U(p) && check_pattern(q, 200, 21) && HOOK_GET(raw.malloc_calls) == m0 + 1 &&
                 raw.last_malloc_size == 600 && HOOK_GET(raw.realloc_calls) == r0 &&
                 s1.raw_allocated_blocks == s0.raw_allocated_blocks + 1 &&
                 stats_blocks_in_use(&s1) == stats_blocks_in_use(&s0) - 1;
        phn_obj_free(q ? q : p);
    }
    CHECK_BODY("shrinking a RAW block 1000 -> 10 stays in RAW: RAW realloc, no pymalloc block (item 19)") {
        void* p = phn_obj_malloc(1000);
        if (p) fill_pattern(p, 1000, 23);
        phn_stats s0 = stats_now();
        long m0 = HOOK_GET(raw.malloc_calls), r0 = HOOK_GET(raw.realloc_calls);
        void* q = p ? phn_obj_realloc(p, 10) : NULL;
        phn_stats s1 = stats_now();
        result = p && q && check_pattern(q, 10, 23) && HOOK_GET(raw.realloc_calls) == r0 + 1 &&
                 U(raw.last_realloc_ptr) == U(p) && raw.last_realloc_size == 10 &&
                 HOOK_GET(raw.malloc_calls) == m0 && stats_blocks_in_use(&s1) == stats_blocks_in_use(&s0) &&
                 s1.raw_allocated_blocks == s0.raw_allocated_blocks;
        phn_obj_free(q ? q : p);
    }
    CHECK_BODY("2000 x realloc(malloc(1000), 10) consume no pymalloc block (item 19)") {
        static void* v[2000];
        phn_stats s0 = stats_now();
        result = true;
        for (int i = 0; i < 2000; i++) {
            void* p = phn_obj_malloc(1000);
            v[i] = p ? phn_obj_realloc(p, 10) : NULL;
            if (!v[i]) { result = false; v[i] = p; }
        }
        phn_stats s1 = stats_now();
        result = result && stats_blocks_in_use(&s1) == stats_blocks_in_use(&s0) &&
                 s1.raw_allocated_blocks == s0.raw_allocated_blocks + 2000 &&
                 s1.allocated_blocks == s0.allocated_blocks + 2000;
        for (int i = 0; i < 2000; i++) phn_obj_free(v[i]);
        phn_stats s2 = stats_now();
        result = result && s2.raw_allocated_blocks == s0.raw_allocated_blocks && s2.allocated_blocks == s0.allocated_blocks;
    }
    CHECK_BODY("realloc of a RAW-served block (0 bytes) to 10 stays RAW") {
        void* p = phn_mem_malloc(0);
        long r0 = HOOK_GET(raw.realloc_calls);
        phn_stats s0 = stats_now();
        void* q = p ? phn_mem_realloc(p, 10) : NULL;
        phn_stats s1 = stats_now();
        result = p && q && HOOK_GET(raw.realloc_calls) == r0 + 1 && stats_blocks_in_use(&s1) == stats_blocks_in_use(&s0);
        phn_mem_free(q ? q : p);
    }

    /* item 25 */
    CHECK_BODY("phn_obj_free of a phn_raw_malloc pointer goes to RAW free, pymalloc untouched (item 25)") {
        result = true;
        static const size_t sizes[] = {1, 16, 48, 100, 512, 4096, 200000};
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            void* p = phn_raw_malloc(sizes[k]);
            phn_stats s0 = stats_now();
            long f0 = HOOK_GET(raw.free_calls);
            phn_obj_free(p);
            phn_stats s1 = stats_now();
            if (!p || HOOK_GET(raw.free_calls) != f0 + 1 || U(raw.last_free_ptr) != U(p) ||
                stats_blocks_in_use(&s1) != stats_blocks_in_use(&s0))
                result = false;
        }
    }
    CHECK_BODY("phn_obj_realloc of a phn_raw_malloc pointer (100 -> 50) is a RAW realloc (item 25)") {
        void* p = phn_raw_malloc(100);
        if (p) fill_pattern(p, 100, 31);
        long r0 = HOOK_GET(raw.realloc_calls);
        phn_stats s0 = stats_now();
        void* q = p ? phn_obj_realloc(p, 50) : NULL;
        phn_stats s1 = stats_now();
        result = p && q && HOOK_GET(raw.realloc_calls) == r0 + 1 && check_pattern(q, 50, 31) &&
                 stats_blocks_in_use(&s1) == stats_blocks_in_use(&s0);
        phn_raw_free(q ? q : p);
    }
    CHECK("remove the RAW hook", hook_uninstall(&raw) == 0);

    CHECK_BODY("10000 RAW blocks freed through phn_obj_free / phn_mem_free: pymalloc counts unchanged, heap valid (item 25)") {
        enum { N = 10000 };
        static void* v[N];
        phn_stats s0 = stats_now();
        for (int i = 0; i < N; i++) v[i] = phn_raw_malloc((size_t)(1 + (i * 37) % 600));
        result = true;
        for (int i = 0; i < N; i++) {
            if (!v[i]) result = false;
            if (i & 1) phn_obj_free(v[i]);
            else phn_mem_free(v[i]);
        }
        phn_stats s1 = stats_now();
        result = result && stats_blocks_in_use(&s1) == stats_blocks_in_use(&s0) && phn_validate() == 0;
    }
}

int main(void) {
    alarm(120);
    test_item13_malloc17();
    test_item14_capacities();
    test_item16_full_pool_front();
    test_item12_class_index();
    test_item15_lifo();
    test_item17_realloc("OBJ", phn_obj_malloc, phn_obj_realloc, phn_obj_free);
    test_item17_realloc("MEM", phn_mem_malloc, phn_mem_realloc, phn_mem_free);
    test_items18_19_realloc_raw();

    CHECK_BODY("stats consistent and phn_validate() == 0 with everything still allocated") {
        phn_stats s = stats_now();
        result = stats_consistent(&s) && phn_validate() == 0;
    }
    CHECK_BODY("freeing every kept block returns the pymalloc counts to what they were before") {
        phn_stats s0 = stats_now();
        size_t live = 0;
        for (size_t i = 0; i < nkeep; i++)
            if (keep[i]) { phn_obj_free(keep[i]); live++; }
        phn_stats s1 = stats_now();
        result = s1.allocated_blocks == s0.allocated_blocks - live && stats_consistent(&s1) && phn_validate() == 0;
    }
    return print_test_summary();
}
