/* test_arenas.c - pymalloc's arenas: spec-allocator.md §2.4 (new_arena, the free cases) and
 * §7 items 10, 20, 21, 22, 23, 24, plus the RAW fallback when no arena can be had and the
 * process's resident memory after freeing.
 *
 * Each scenario needs a process whose arenas it can count, so the parent runs every one in a
 * child (this binary again, with a mode argument); the child installs a counting arena
 * allocator (phn_set_arena_allocator) and runs its own CHECKs, whose counts the parent adds
 * to its own.
 *
 *   --child-basic  10 alloc/free sizes; 20 emptied arenas freed, stats drop; 21 one retained,
 *                  fill/empty cycles do not call the arena allocator
 *   --child-order  22 new pools come from the arena with the fewest free pools; a nearly
 *                  empty arena drains and is released
 *   --child-align  24 a 1 MiB-aligned arena gives 64 pools, a misaligned one 63 and 16384
 *                  bytes "lost to arena alignment"; frees go to the allocator that allocated
 *   --child-many   23 more than 16, 32, 64 arenas at once (the arena-object vector grows)
 *   --child-rss    freeing every block gives the memory back to the OS (resident set size)
 *   --child-fail   an arena allocator returning NULL: small requests fall back to RAW
 *   --child-huge   the built-in arena allocator: 1 MiB-aligned arenas in 2 MiB-aligned pairs,
 *                  never advised as huge pages by default; with PYHEAPNATIVE_PYMALLOC_HUGEPAGES=1
 *                  advised MADV_HUGEPAGE from the 9th live arena on (VmFlags "hg" in smaps); a
 *                  value other than 0 or 1 is a fatal error naming the variable
 */
#include "testhelper.h"
#include "phn_test_common.h"

#include <sys/mman.h>

#define MAXBLOCKS 400000
static void** blocks;  /* mmap'ed so that it is not carved from the heap being measured */
static size_t nblocks;

static arena_counter AC, AC2;

static void blocks_init(void) {
    void* m = mmap(NULL, MAXBLOCKS * sizeof(void*), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    blocks = m == MAP_FAILED ? NULL : (void**)m;
    nblocks = 0;
}

static void* push(void* p) {
    if (p && nblocks < MAXBLOCKS) blocks[nblocks++] = p;
    return p;
}

static void free_range(size_t from, size_t to) {
    for (size_t i = from; i < to; i++)
        if (blocks[i]) { phn_obj_free(blocks[i]); blocks[i] = NULL; }
}

/* Allocate n-byte blocks until the arena allocator a has been called `calls` times.
 * Returns 0 if an allocation failed or a limit was hit. */
static int alloc_until_arena_calls(arena_counter* a, long calls, size_t n) {
    while (a->alloc_calls < calls) {
        if (nblocks >= MAXBLOCKS) return 0;
        if (!push(phn_obj_malloc(n))) return 0;
    }
    return 1;
}

/* distinct pools, among blocks[from, to), that lie in arena rec i */
static size_t pools_in_arena(const arena_counter* a, int rec, size_t from, size_t to, size_t* nblk) {
    static uintptr_t seen[128];
    size_t ns = 0;
    *nblk = 0;
    for (size_t k = from; k < to; k++) {
        void* p = blocks[k];
        if (!p || arena_index_of(a, p) != rec) continue;
        (*nblk)++;
        uintptr_t pool = pool_of(p);
        size_t j = 0;
        while (j < ns && seen[j] != pool) j++;
        if (j == ns && ns < 128) seen[ns++] = pool;
    }
    return ns;
}

/* ------------------------------------------------------------------ items 10, 20, 21 */
static int child_basic(void) {
    phn_stats s0 = stats_now();
    CHECK("install a counting arena allocator that forwards to the default one",
          arena_counter_init(&AC, ARENA_FORWARD) == 0 && arena_counter_install(&AC) == 0);
    size_t start = nblocks;
    CHECK("allocate 512-byte blocks until the arena allocator was called 5 times",
          alloc_until_arena_calls(&AC, 5, 512));
    phn_stats s1 = stats_now();
    CHECK_BODY("arena alloc is called with size 1048576 (item 10)") {
        result = AC.alloc_calls == 5 && AC.bad_alloc_size == 0 && AC.last_alloc_size == PHN_ARENA_SIZE && AC.alloc_null == 0;
    }
    CHECK_BODY("stats: arenas allocated total and current +5, highwater >= current") {
        result = s1.arenas_allocated_total == s0.arenas_allocated_total + 5 &&
                 s1.arenas_allocated_current == s0.arenas_allocated_current + 5 &&
                 s1.arenas_highwater >= s1.arenas_allocated_current && stats_consistent(&s1);
    }
    CHECK_BODY("the 4 full arenas hold 64 pools if 16 KiB-aligned, 63 otherwise (31 blocks each); alignment loss in stats matches") {
        result = AC.nrec == 5;
        uint64_t lost = 0;
        for (int i = 0; i < 5 && i < AC.nrec; i++) {
            int aligned = (AC.rec[i].arena & (PHN_POOL_SIZE - 1)) == 0;
            if (!aligned) lost += PHN_POOL_SIZE;
            if (i == 4) continue;
            size_t nb = 0, np = pools_in_arena(&AC, i, start, nblocks, &nb);
            if (np != (aligned ? 64u : 63u) || nb != np * 31) {
                fprintf(stderr, "\n  arena %d at %p: %zu pools, %zu blocks\n", i, (void*)AC.rec[i].arena, np, nb);
                result = false;
            }
        }
        result = result && s1.bytes_lost_to_arena_alignment == s0.bytes_lost_to_arena_alignment + lost;
    }
    free_range(start, nblocks);
    nblocks = start;
    phn_stats s2 = stats_now();
    CHECK_BODY("freeing every block frees every arena but one through the arena allocator, size 1048576 (items 10, 20)") {
        result = AC.free_calls == 4 && AC.bad_free_size == 0 && AC.unknown_free == 0 && AC.last_free_size == PHN_ARENA_SIZE &&
                 arena_live_count(&AC) == 1;
        if (!result) fprintf(stderr, "\n  arena free calls %ld (expected 4), live %d\n", AC.free_calls, arena_live_count(&AC));
    }
    CHECK_BODY("stats: arenas allocated current -4, arenas reclaimed +4, total unchanged (item 20)") {
        result = s2.arenas_allocated_current == s1.arenas_allocated_current - 4 &&
                 s2.arenas_reclaimed == s1.arenas_reclaimed + 4 && s2.arenas_allocated_total == s1.arenas_allocated_total &&
                 s2.arenas_highwater == s1.arenas_highwater && stats_consistent(&s2);
    }
    CHECK_BODY("exactly one completely empty arena is retained (item 21)") {
        result = s2.arenas_allocated_current == s0.arenas_allocated_current + 1 && s2.allocated_blocks == s0.allocated_blocks &&
                 s2.unused_pools >= s0.unused_pools + 63;
    }
    CHECK_BODY("10 fill/empty cycles within one arena do not call the arena allocator (item 21)") {
        long a0 = AC.alloc_calls, f0 = AC.free_calls;
        result = true;
        for (int cycle = 0; cycle < 10; cycle++) {
            size_t from = nblocks;
            for (int i = 0; i < 31 * 50; i++) {
                void* p = push(phn_obj_malloc(512));
                if (!p) { result = false; break; }
                memset(p, cycle, 512);
            }
            free_range(from, nblocks);
            nblocks = from;
        }
        result = result && AC.alloc_calls == a0 && AC.free_calls == f0;
        if (!result) fprintf(stderr, "\n  arena alloc +%ld, free +%ld\n", AC.alloc_calls - a0, AC.free_calls - f0);
    }
    CHECK_BODY("3 cycles that need a second arena: one arena alloc and one arena free each (item 21)") {
        long a0 = AC.alloc_calls, f0 = AC.free_calls;
        result = true;
        for (int cycle = 0; cycle < 3; cycle++) {
            size_t from = nblocks;
            for (int i = 0; i < 31 * 100; i++)
                if (!push(phn_obj_malloc(500))) { result = false; break; }
            if (AC.alloc_calls != a0 + cycle + 1) result = false;
            free_range(from, nblocks);
            nblocks = from;
            if (AC.free_calls != f0 + cycle + 1) result = false;
        }
        if (!result) fprintf(stderr, "\n  arena alloc +%ld, free +%ld (expected +3, +3)\n", AC.alloc_calls - a0, AC.free_calls - f0);
        result = result && AC.unknown_free == 0 && AC.bad_free_size == 0 && AC.bad_alloc_size == 0;
    }
    CHECK("phn_validate() == 0", phn_validate() == 0);
    return print_test_summary();
}

/* ------------------------------------------------------------------ item 22 */
static int child_order(void) {
    CHECK("install an arena allocator giving 1 MiB-aligned arenas (64 pools each)",
          arena_counter_init(&AC, ARENA_ALIGNED) == 0 && arena_counter_install(&AC) == 0);
    size_t start = nblocks;
    CHECK("allocate 512-byte blocks until the third arena is allocated", alloc_until_arena_calls(&AC, 3, 512));
    if (AC.nrec < 3) return print_test_summary();
    /* blocks of arenas A1 (rec 0) and A2 (rec 1), in allocation order */
    static size_t a1[2048], a2[2048];
    size_t n1 = 0, n2 = 0;
    for (size_t k = start; k < nblocks; k++) {
        int r = arena_index_of(&AC, blocks[k]);
        if (r == 0 && n1 < 2048) a1[n1++] = k;
        if (r == 1 && n2 < 2048) a2[n2++] = k;
    }
    CHECK_BODY("A1 and A2 are full: 64 pools x 31 blocks each") { result = n1 == 1984 && n2 == 1984; }
    if (n1 != 1984 || n2 != 1984) return print_test_summary();

    /* A1: keep one block (63 free pools). A2: free three whole pools (3 free pools). */
    uintptr_t keep_pool = pool_of(blocks[a1[0]]);
    for (size_t i = 1; i < n1; i++) { phn_obj_free(blocks[a1[i]]); blocks[a1[i]] = NULL; }
    uintptr_t freed_pools[3];
    for (int j = 0; j < 3; j++) freed_pools[j] = pool_of(blocks[a2[31 * (10 + 7 * j)]]);
    for (size_t i = 0; i < n2; i++) {
        uintptr_t pl = pool_of(blocks[a2[i]]);
        if (pl == freed_pools[0] || pl == freed_pools[1] || pl == freed_pools[2]) {
            phn_obj_free(blocks[a2[i]]);
            blocks[a2[i]] = NULL;
        }
    }
    phn_stats s1 = stats_now();
    long f1 = AC.free_calls;
    CHECK_BODY("setup: nothing released yet (A1 holds one block)") {
        result = f1 == 0 && arena_live_count(&AC) == 3 && stats_consistent(&s1) && pool_of(blocks[a1[0]]) == keep_pool;
    }
    /* 96 blocks of 496 bytes (class 30, 32 per pool) need three new pools: they must come
     * from A2, the usable arena with the fewest free pools, not from A1 or A3 (63 free each). */
    size_t probe = nblocks;
    for (int i = 0; i < 96; i++) push(phn_obj_malloc(496));
    CHECK_BODY("new pools are taken from the arena with the fewest free pools: all 96 blocks land in A2's three freed pools (item 22)") {
        result = nblocks == probe + 96;
        for (size_t k = probe; k < nblocks; k++) {
            uintptr_t pl = pool_of(blocks[k]);
            if (arena_index_of(&AC, blocks[k]) != 1 || (pl != freed_pools[0] && pl != freed_pools[1] && pl != freed_pools[2])) {
                if (result) fprintf(stderr, "\n  block %zu at %p is in arena rec %d\n", k - probe, blocks[k], arena_index_of(&AC, blocks[k]));
                result = false;
            }
        }
    }
    uintptr_t a1_base = AC.rec[0].arena;
    phn_obj_free(blocks[a1[0]]);
    blocks[a1[0]] = NULL;
    phn_stats s2 = stats_now();
    CHECK_BODY("the nearly empty arena A1 drains: freeing its last block releases it (items 20, 22)") {
        result = AC.free_calls == f1 + 1 && AC.rec[0].live == 0 && AC.rec[1].live && AC.rec[2].live &&
                 s2.arenas_allocated_current == s1.arenas_allocated_current - 1 &&
                 s2.arenas_reclaimed == s1.arenas_reclaimed + 1;
        if (!result) fprintf(stderr, "\n  arena frees %ld, A1 (%p) live %d\n", AC.free_calls - f1, (void*)a1_base, AC.rec[0].live);
    }
    free_range(start, nblocks);
    nblocks = start;
    CHECK_BODY("after freeing everything: one arena of this test left, frees went to the right arenas") {
        result = arena_live_count(&AC) == 1 && AC.unknown_free == 0 && AC.bad_free_size == 0 && phn_validate() == 0;
    }
    return print_test_summary();
}

/* ------------------------------------------------------------------ item 24 */
static int child_align(void) {
    phn_stats s0 = stats_now();
    CHECK("install an arena allocator giving 1 MiB-aligned arenas",
          arena_counter_init(&AC, ARENA_ALIGNED) == 0 && arena_counter_install(&AC) == 0);
    size_t start = nblocks;
    CHECK("allocate 512-byte blocks until the second aligned arena is allocated", alloc_until_arena_calls(&AC, 2, 512));
    phn_stats s1 = stats_now();
    CHECK_BODY("a 16 KiB-aligned arena provides 64 pools (64 x 31 blocks of 512), the first at its base (item 24)") {
        size_t nb = 0, np = pools_in_arena(&AC, 0, start, nblocks, &nb);
        uintptr_t lowest = UINTPTR_MAX;
        for (size_t k = start; k < nblocks; k++)
            if (arena_index_of(&AC, blocks[k]) == 0 && pool_of(blocks[k]) < lowest) lowest = pool_of(blocks[k]);
        result = AC.nrec == 2 && np == 64 && nb == 64 * 31 && lowest == AC.rec[0].arena;
        if (!result) fprintf(stderr, "\n  %zu pools, %zu blocks\n", np, nb);
    }
    CHECK_BODY("aligned arenas lose nothing to alignment (stats delta 0) (item 24)") {
        result = s1.bytes_lost_to_arena_alignment == s0.bytes_lost_to_arena_alignment && stats_consistent(&s1);
    }
    CHECK("switch to an arena allocator giving page-aligned, not 16 KiB-aligned arenas",
          arena_counter_init(&AC2, ARENA_MISALIGNED) == 0 && arena_counter_install(&AC2) == 0);
    size_t mid = nblocks;
    CHECK("allocate 512-byte blocks until the first misaligned arena is allocated", alloc_until_arena_calls(&AC2, 1, 512));
    phn_stats s2 = stats_now();
    CHECK_BODY("stats: 16384 bytes lost to arena alignment for the misaligned arena (item 24)") {
        result = s2.bytes_lost_to_arena_alignment == s0.bytes_lost_to_arena_alignment + 16384 && stats_consistent(&s2);
        if (!result)
            fprintf(stderr, "\n  lost to alignment %llu -> %llu\n", (unsigned long long)s0.bytes_lost_to_arena_alignment,
                    (unsigned long long)s2.bytes_lost_to_arena_alignment);
    }
    CHECK("allocate until the second misaligned arena is allocated", alloc_until_arena_calls(&AC2, 2, 512));
    phn_stats s3 = stats_now();
    CHECK_BODY("a misaligned arena provides 63 pools (63 x 31 blocks), the first at the next 16 KiB boundary (item 24)") {
        size_t nb = 0, np = pools_in_arena(&AC2, 0, mid, nblocks, &nb);
        uintptr_t lowest = UINTPTR_MAX;
        for (size_t k = mid; k < nblocks; k++)
            if (arena_index_of(&AC2, blocks[k]) == 0 && pool_of(blocks[k]) < lowest) lowest = pool_of(blocks[k]);
        result = AC2.nrec == 2 && np == 63 && nb == 63 * 31 && lowest == AC2.rec[0].arena + (PHN_POOL_SIZE - 4096);
        if (!result) fprintf(stderr, "\n  %zu pools, %zu blocks, first pool at base + %lld\n", np, nb,
                             (long long)(lowest - AC2.rec[0].arena));
    }
    CHECK_BODY("two misaligned arenas: 32768 bytes lost to alignment; the text says the same (item 24)") {
        result = s3.bytes_lost_to_arena_alignment == s0.bytes_lost_to_arena_alignment + 32768 && stats_consistent(&s3);
        char line[128];
        char* txt = NULL;
        int64_t n = phn_format_malloc_stats(NULL, 0);
        if (n > 0 && (txt = (char*)malloc((size_t)n + 1)) != NULL) {
            phn_format_malloc_stats(txt, (size_t)n + 1);
            /* printone format: label padded to 35, '=', 21-column comma-grouped value */
            char num[32];
            unsigned long long v = s3.bytes_lost_to_arena_alignment;
            char digits[32];
            snprintf(digits, sizeof digits, "%llu", v);
            size_t nd = strlen(digits), o = 0;
            for (size_t i = 0; i < nd; i++) {
                if (i && (nd - i) % 3 == 0) num[o++] = ',';
                num[o++] = digits[i];
            }
            num[o] = 0;
            snprintf(line, sizeof line, "%-35s=%21s\n", "# bytes lost to arena alignment", num);
            if (!strstr(txt, line)) {
                fprintf(stderr, "\n  text lacks: %s", line);
                result = false;
            }
        } else {
            result = false;
        }
        free(txt);
    }
    free_range(start, nblocks);
    nblocks = start;
    CHECK_BODY("freeing everything: 3 of the 4 arenas released, each by the allocator that allocated it (item 20)") {
        result = AC.free_calls + AC2.free_calls == 3 && AC.unknown_free == 0 && AC2.unknown_free == 0 &&
                 AC.bad_free_size == 0 && AC2.bad_free_size == 0 && AC.bad_alloc_size == 0 && AC2.bad_alloc_size == 0 &&
                 arena_live_count(&AC) + arena_live_count(&AC2) == 1;
        if (!result) fprintf(stderr, "\n  frees: aligned %ld, misaligned %ld, unknown %ld/%ld\n", AC.free_calls,
                             AC2.free_calls, AC.unknown_free, AC2.unknown_free);
    }
    CHECK("phn_validate() == 0", phn_validate() == 0);
    return print_test_summary();
}

/* ------------------------------------------------------------------ item 23 */
static int child_many(void) {
    phn_stats s0 = stats_now();
    CHECK("install a counting arena allocator that forwards to the default one",
          arena_counter_init(&AC, ARENA_FORWARD) == 0 && arena_counter_install(&AC) == 0);
    size_t start = nblocks;
    static const long stages[] = {17, 33, 65, 70};
    for (int st = 0; st < 4; st++) {
        char name[128];
        snprintf(name, sizeof name, "%ld arenas at once (arena-object vector past %d): blocks intact, stats consistent, heap valid (item 23)",
                 stages[st], st == 0 ? 16 : st == 1 ? 32 : 64);
        size_t from = nblocks;
        int ok_alloc = alloc_until_arena_calls(&AC, stages[st], 512);
        for (size_t k = from; k < nblocks; k++) fill_pattern(blocks[k], 512, (unsigned)k);
        phn_stats s = stats_now();
        CHECK_BODY(name) {
            result = ok_alloc && s.arenas_allocated_current == s0.arenas_allocated_current + (uint64_t)stages[st] &&
                     s.arenas_allocated_total == s0.arenas_allocated_total + (uint64_t)stages[st] &&
                     s.arenas_highwater >= s.arenas_allocated_current && stats_consistent(&s) && phn_validate() == 0;
            for (size_t k = start; k < nblocks; k++)
                if (!check_pattern(blocks[k], 512, (unsigned)k)) { result = false; break; }
        }
    }
    free_range(start, nblocks);
    nblocks = start;
    phn_stats s1 = stats_now();
    CHECK_BODY("freeing all blocks of 70 arenas releases 69 of them (items 20, 21, 23)") {
        result = AC.free_calls == 69 && AC.unknown_free == 0 && AC.bad_free_size == 0 && AC.bad_alloc_size == 0 &&
                 s1.arenas_allocated_current == s0.arenas_allocated_current + 1 && stats_consistent(&s1) &&
                 phn_validate() == 0;
        if (!result) fprintf(stderr, "\n  arena frees %ld, current %llu\n", AC.free_calls, (unsigned long long)s1.arenas_allocated_current);
    }
    CHECK_BODY("after the vector grew, 70 arenas can be allocated and released again") {
        long a0 = AC.alloc_calls;
        result = alloc_until_arena_calls(&AC, a0 + 69, 480) && phn_validate() == 0;
        free_range(start, nblocks);
        nblocks = start;
        result = result && phn_validate() == 0;
    }
    return print_test_summary();
}

/* ------------------------------------------------------------------ RSS */
static int child_rss(void) {
    /* fault in the part of the pointer array this test uses, so that it counts in r0 */
    memset(blocks, 0, 300000 * sizeof(void*));
    phn_stats s0 = stats_now();
    long r0 = rss_bytes();
    size_t start = nblocks, total = 0;
    unsigned i = 0;
    while (total < 64 * MiB && nblocks < MAXBLOCKS) {
        size_t n = 16 + (i * 53u) % 497u;
        void* p = push(phn_obj_malloc(n));
        if (!p) break;
        memset(p, (int)(i & 0xff) | 1, n);
        total += n;
        i++;
    }
    phn_stats s1 = stats_now();
    long r1 = rss_bytes();
    free_range(start, nblocks);
    nblocks = start;
    phn_stats s2 = stats_now();
    long r2 = rss_bytes();
    fprintf(stderr, "rss: before %ld KiB, after filling %zu KiB in %u blocks %ld KiB, after freeing %ld KiB; arenas %llu -> %llu -> %llu\n",
            r0 / 1024, total / 1024, i, r1 / 1024, r2 / 1024, (unsigned long long)s0.arenas_allocated_current,
            (unsigned long long)s1.arenas_allocated_current, (unsigned long long)s2.arenas_allocated_current);
    CHECK_BODY("filling ~64 MiB of small blocks: resident memory grows by >= 56 MiB, >= 64 arenas") {
        result = total >= 64 * MiB && r0 > 0 && r1 - r0 >= (long)(56 * MiB) &&
                 s1.arenas_allocated_current >= s0.arenas_allocated_current + 64;
    }
    CHECK_BODY("freeing every block returns every arena but one: stats") {
        result = s2.arenas_allocated_current == s0.arenas_allocated_current + 1 && s2.allocated_blocks == s0.allocated_blocks &&
                 s2.arenas_reclaimed == s0.arenas_reclaimed + (s1.arenas_allocated_current - s0.arenas_allocated_current) - 1;
    }
    CHECK_BODY("freeing every block returns the memory to the OS: resident memory back within 4 MiB of the start") {
        result = r2 > 0 && r2 <= r0 + (long)(4 * MiB);
    }
    CHECK("phn_validate() == 0", phn_validate() == 0);
    return print_test_summary();
}

/* ------------------------------------------------------------------ failing arena allocator */
static int child_fail(void) {
    static counting_hook raw;
    CHECK("install a counting RAW hook", hook_install(&raw, PHN_DOMAIN_RAW) == 0);
    CHECK("install an arena allocator that always returns NULL",
          arena_counter_init(&AC, ARENA_FAIL) == 0 && arena_counter_install(&AC) == 0);
    size_t start = nblocks;
    phn_stats s_init = stats_now();
    /* use the free pools that already exist, until pymalloc needs a new arena */
    phn_stats sb = stats_now();
    long m0 = 0;
    void* p = NULL;
    int ok_alloc = 1;
    while (AC.alloc_calls == 0 && nblocks < 20000) {
        sb = stats_now();
        m0 = HOOK_GET(raw.malloc_calls);
        p = push(phn_obj_malloc(512));
        if (!p) { ok_alloc = 0; break; }
    }
    phn_stats sa = stats_now();
    CHECK_BODY("the allocation that needed a new arena got NULL from the arena allocator and fell back to RAW: non-NULL") {
        result = ok_alloc && AC.alloc_calls == 1 && AC.alloc_null == 1 && p != NULL && (U(p) & 15) == 0;
    }
    CHECK_BODY("... served by the RAW domain: RAW hook malloc(512), raw_allocated_blocks +1, no pymalloc block") {
        result = HOOK_GET(raw.malloc_calls) == m0 + 1 && raw.last_malloc_size == 512 && U(raw.last_result) == U(p) &&
                 sa.raw_allocated_blocks == sb.raw_allocated_blocks + 1 &&
                 sa.size_classes[31].blocks_in_use == sb.size_classes[31].blocks_in_use &&
                 sa.allocated_blocks == sb.allocated_blocks + 1 && sa.arenas_allocated_total == sb.arenas_allocated_total;
    }
    CHECK_BODY("100 more small requests (sizes 1..512): all non-NULL, all RAW, each one asks for an arena") {
        long a0 = AC.alloc_calls;
        phn_stats s0 = stats_now();
        result = true;
        for (int i = 0; i < 100; i++) {
            void* q = push(phn_obj_malloc((size_t)(1 + (i * 97) % 512)));
            if (!q) result = false;
            else memset(q, 0x11, (size_t)(1 + (i * 97) % 512));
        }
        phn_stats s1 = stats_now();
        result = result && s1.raw_allocated_blocks == s0.raw_allocated_blocks + 100 && stats_blocks_in_use(&s1) == stats_blocks_in_use(&s0);
        if (AC.alloc_calls != a0 + 100) {
            fprintf(stderr, "\n  arena allocator called %ld times for 100 requests (CPython: 100)\n", AC.alloc_calls - a0);
            result = false;
        }
    }
    CHECK_BODY("MEM domain falls back to RAW too; calloc is zeroed") {
        void* q = push(phn_mem_calloc(10, 30));
        result = q != NULL && all_zero(q, 300);
    }
    CHECK("restore the default arena allocator", phn_set_arena_allocator(&AC.prev) == PHN_OK);
    CHECK_BODY("with a working arena allocator again, small requests are served by pymalloc") {
        phn_stats s0 = stats_now();
        void* q = push(phn_obj_malloc(512));
        phn_stats s1 = stats_now();
        result = q && s1.size_classes[31].blocks_in_use == s0.size_classes[31].blocks_in_use + 1 &&
                 s1.raw_allocated_blocks == s0.raw_allocated_blocks && s1.arenas_allocated_total == s0.arenas_allocated_total + 1;
    }
    phn_stats s_before_free = stats_now();
    free_range(start, nblocks);
    nblocks = start;
    phn_stats s_end = stats_now();
    CHECK_BODY("freeing everything (RAW-served blocks through phn_obj_free) returns raw_allocated_blocks to its start") {
        result = s_end.raw_allocated_blocks == s_init.raw_allocated_blocks && s_end.allocated_blocks == s_init.allocated_blocks &&
                 s_before_free.raw_allocated_blocks == s_init.raw_allocated_blocks + 102 && phn_validate() == 0;
    }
    CHECK("remove the RAW hook", hook_uninstall(&raw) == 0);
    return print_test_summary();
}

/* ------------------------------------------------------------------ huge pages */

/* 1 if the mapping holding address a has the "hg" flag (MADV_HUGEPAGE) in /proc/self/smaps,
 * 0 if not, -1 if there is no such mapping; *huge_kb gets its AnonHugePages. */
static int advised_huge(uintptr_t a, long* huge_kb) {
    FILE* f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int inside = 0, found = -1;
    *huge_kb = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {   /* a mapping's first line */
            inside = a >= lo && a < hi;
            continue;
        }
        if (!inside) continue;
        if (strncmp(line, "AnonHugePages:", 14) == 0) sscanf(line + 14, "%ld", huge_kb);
        if (strncmp(line, "VmFlags:", 8) == 0) {
            found = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}

static int child_huge(void) {
    const char* setting = getenv("PYHEAPNATIVE_PYMALLOC_HUGEPAGES");
    int expect_advice = setting != NULL && strcmp(setting, "1") == 0;
    int thp = access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
    phn_stats s0 = stats_now();
    long live0 = (long)s0.arenas_allocated_current;
    CHECK("count the built-in allocator's arenas (a forwarding arena allocator)",
          arena_counter_init(&AC, ARENA_FORWARD) == 0 && arena_counter_install(&AC) == 0);
    CHECK("allocate 512-byte blocks until 14 more arenas are allocated", alloc_until_arena_calls(&AC, 14, 512));
    phn_stats s1 = stats_now();
    CHECK_BODY("no arena was freed meanwhile, and every new arena is 1 MiB-aligned: nothing lost to alignment") {
        result = AC.nrec == 14 && AC.free_calls == 0 && s1.arenas_allocated_current == (uint64_t)live0 + 14 &&
                 s1.bytes_lost_to_arena_alignment == s0.bytes_lost_to_arena_alignment;
        for (int i = 0; i < AC.nrec; i++)
            if (AC.rec[i].arena & (PHN_ARENA_SIZE - 1)) result = false;
    }
    CHECK_BODY("arenas come in pairs: a 2 MiB-aligned arena, then the one right after it") {
        result = true;
        for (int i = 0; i + 1 < AC.nrec; i++)
            if ((AC.rec[i].arena & (2 * PHN_ARENA_SIZE - 1)) == 0 && AC.rec[i + 1].arena != AC.rec[i].arena + PHN_ARENA_SIZE)
                result = false;
    }
    if (!thp) {
        printf("SKIP: no transparent huge pages in this kernel; the advice checks are skipped\n");
        CHECK("phn_validate() == 0", phn_validate() == 0);
        return print_test_summary();
    }
    /* A chunk's advice is decided when its first half is handed out, with `live` arenas live. */
    int advised = 0, unadvised = 0, wrong = 0;
    long huge_kb_total = 0;
    for (int i = 0; i < AC.nrec; i++) {
        uintptr_t a = AC.rec[i].arena;
        int first_half = (a & (2 * PHN_ARENA_SIZE - 1)) == 0;
        long live_at_chunk;
        if (first_half) live_at_chunk = live0 + i;
        else if (i > 0 && AC.rec[i - 1].arena + PHN_ARENA_SIZE == a) live_at_chunk = live0 + i - 1;
        else continue;   /* the spare of a chunk mapped before the test */
        long kb;
        int hg = advised_huge(a, &kb);
        int want = expect_advice && live_at_chunk >= 8;
        if (hg < 0 || hg != want) {
            wrong++;
            fprintf(stderr, "\n  arena %d at %#lx: hg=%d, expected %d (%ld live when its chunk was mapped)", i,
                    (unsigned long)a, hg, want, live_at_chunk);
        }
        if (hg == 1) { advised++; huge_kb_total += kb; } else unadvised++;
    }
    if (expect_advice) {
        CHECK_BODY("the chunks mapped with fewer than 8 live arenas are not advised, the later ones are (MADV_HUGEPAGE)") {
            result = wrong == 0 && advised >= 4 && (live0 >= 8 || unadvised >= 1);
        }
        /* Whether the kernel finds free 2 MiB pages is up to it: reported, not checked. */
        printf("advised arenas: %d, their mappings' AnonHugePages: %ld kB\n", advised, huge_kb_total);
    } else {
        CHECK_BODY("PYHEAPNATIVE_PYMALLOC_HUGEPAGES unset or 0: no arena is advised") { result = wrong == 0 && advised == 0; }
    }
    CHECK_BODY("the blocks are usable and freeing them all leaves a valid heap") {
        for (size_t k = 0; k < nblocks; k++) memset(blocks[k], 0x5A, 512);
        free_range(0, nblocks);
        nblocks = 0;
        result = phn_validate() == 0;
    }
    CHECK("restore the default arena allocator", phn_set_arena_allocator(&AC.prev) == PHN_OK);
    return print_test_summary();
}

static void test_huge_pages_variable(void) {
    child_result r;
    static const char* const bad[] = { "PYHEAPNATIVE_PYMALLOC_HUGEPAGES=yes", NULL };
    int rc = run_self("--child-basic", NULL, bad, &r);
    CHECK_BODY("PYHEAPNATIVE_PYMALLOC_HUGEPAGES=yes: fatal error (SIGABRT) naming the variable and its values") {
        result = rc == 0 && r.signaled && r.signo == SIGABRT &&
                 strstr(r.err, "PYHEAPNATIVE_PYMALLOC_HUGEPAGES: 'yes' is not 0 or 1") != NULL;
        if (!result) {
            describe_child(&r);
            echo_prefixed("err", r.err);
        }
    }
    child_result_free(&r);
}

int main(int argc, char** argv) {
    alarm(120);
    blocks_init();
    if (!blocks) {
        fprintf(stderr, "mmap failed\n");
        return 2;
    }
    if (argc > 1) {
        if (!strcmp(argv[1], "--child-basic")) return child_basic();
        if (!strcmp(argv[1], "--child-order")) return child_order();
        if (!strcmp(argv[1], "--child-align")) return child_align();
        if (!strcmp(argv[1], "--child-many")) return child_many();
        if (!strcmp(argv[1], "--child-rss")) return child_rss();
        if (!strcmp(argv[1], "--child-fail")) return child_fail();
        if (!strcmp(argv[1], "--child-huge")) return child_huge();
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    run_child_suite("--child-basic", NULL);
    run_child_suite("--child-order", NULL);
    run_child_suite("--child-align", NULL);
    run_child_suite("--child-many", NULL);
    run_child_suite("--child-rss", NULL);
    run_child_suite("--child-fail", NULL);
    run_child_suite("--child-huge", NULL);
    static const char* const huge[] = { "PYHEAPNATIVE_PYMALLOC_HUGEPAGES=1", NULL };
    run_child_suite("--child-huge", huge);
    static const char* const no_huge[] = { "PYHEAPNATIVE_PYMALLOC_HUGEPAGES=0", NULL };
    run_child_suite("--child-huge", no_huge);
    test_huge_pages_variable();
    return print_test_summary();
}
