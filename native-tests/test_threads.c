/* test_threads.c - MEM and OBJ are thread-safe from any thread without setup (DESIGN.md §3;
 * stronger than CPython, which needs the GIL).
 *
 * Four worker threads run a bounded number of random malloc / calloc / realloc / free calls
 * (MEM and OBJ, 1..1024 bytes, so both pymalloc and the RAW fallback) and write a cookie
 * pattern into every block, checking it before every realloc and free. Blocks travel between
 * threads through a shared array of 1000 slots swapped with __atomic_exchange_n, so many
 * blocks are freed or resized by a thread other than the one that allocated them. A fifth
 * thread calls phn_validate() and phn_get_stats() while the others run. Afterwards every
 * block is freed and the counts must be back where they started. */
#include "testhelper.h"
#include "phn_test_common.h"

#include <pthread.h>

#define NTHREADS 4
#define ITERS 400000
#define NLOCAL 256
#define NSHARED 1000
#define MAXSIZE 1024

/* A slot holds a block pointer packed with its size (bits 48..58) and domain (bit 63). */
static uintptr_t shared_slots[NSHARED];

typedef struct worker {
    int id;
    pthread_t th;
    uint64_t rng;
    uintptr_t local[NLOCAL];
    long errors, null_results, bad_cookies, bad_zero, bad_align;
    long ops, frees, reallocs, transfers, foreign_frees;
} worker;

static worker workers[NTHREADS];
static volatile int running = 1;
static long validate_calls, validate_failures, stats_failures, stats_calls;

static inline uint64_t rnd(worker* w) {
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

static inline uintptr_t pack(void* p, size_t size, int dom, worker* w) {
    uintptr_t u = (uintptr_t)p;
    if (u >> 47) { w->errors++; return 0; }
    return u | ((uintptr_t)size << 48) | ((uintptr_t)dom << 63);
}
static inline void* ptr_of(uintptr_t s) { return (void*)(s & (((uintptr_t)1 << 48) - 1)); }
static inline size_t size_of(uintptr_t s) { return (size_t)((s >> 48) & 0x7ff); }
static inline int dom_of(uintptr_t s) { return (int)(s >> 63); }

static inline unsigned cookie_seed(const void* p, size_t size) { return (unsigned)(((uintptr_t)p >> 4) * 131u + size * 7u); }

static void* dmalloc(int dom, size_t n) { return dom ? phn_obj_malloc(n) : phn_mem_malloc(n); }
static void* dcalloc(int dom, size_t a, size_t b) { return dom ? phn_obj_calloc(a, b) : phn_mem_calloc(a, b); }
static void* drealloc(int dom, void* p, size_t n) { return dom ? phn_obj_realloc(p, n) : phn_mem_realloc(p, n); }
static void dfree(int dom, void* p) {
    if (dom) phn_obj_free(p);
    else phn_mem_free(p);
}

static void release(worker* w, uintptr_t s) {
    void* p = ptr_of(s);
    size_t n = size_of(s);
    if (!check_pattern(p, n, cookie_seed(p, n))) w->bad_cookies++;
    dfree(dom_of(s), p);
    w->frees++;
}

static void* worker_main(void* arg) {
    worker* w = (worker*)arg;
    for (long it = 0; it < ITERS; it++) {
        uint64_t r = rnd(w);
        int slot = (int)(r % NLOCAL);
        int action = (int)((r >> 16) % 100);
        uintptr_t s = w->local[slot];
        w->ops++;
        if (s == 0) {
            size_t n = 1 + (size_t)((r >> 24) % MAXSIZE);
            int dom = (int)((r >> 40) & 1);
            void* p;
            if (((r >> 44) & 3) == 3) {
                size_t elsize = 1 + (size_t)((r >> 48) % 8);
                size_t nelem = (n + elsize - 1) / elsize;
                n = nelem * elsize;
                if (n > MAXSIZE) { nelem = MAXSIZE / elsize; n = nelem * elsize; }
                p = dcalloc(dom, nelem, elsize);
                if (p && !all_zero(p, n)) w->bad_zero++;
            } else {
                p = dmalloc(dom, n);
            }
            if (!p) { w->null_results++; continue; }
            if (U(p) & 15) w->bad_align++;
            fill_pattern(p, n, cookie_seed(p, n));
            w->local[slot] = pack(p, n, dom, w);
        } else if (action < 35) {
            release(w, s);
            w->local[slot] = 0;
        } else if (action < 55) {
            void* p = ptr_of(s);
            size_t n = size_of(s), nn = 1 + (size_t)((r >> 24) % MAXSIZE);
            int dom = dom_of(s);
            if (!check_pattern(p, n, cookie_seed(p, n))) w->bad_cookies++;
            void* q = drealloc(dom, p, nn);
            if (!q) { w->null_results++; continue; }
            if (U(q) & 15) w->bad_align++;
            size_t keepn = n < nn ? n : nn;
            if (!check_pattern(q, keepn, cookie_seed(p, n))) w->bad_cookies++;
            fill_pattern(q, nn, cookie_seed(q, nn));
            w->local[slot] = pack(q, nn, dom, w);
            w->reallocs++;
        } else if (action < 90) {
            /* hand the block to whoever takes this shared slot, take what was there */
            int j = (int)((r >> 32) % NSHARED);
            uintptr_t old = __atomic_exchange_n(&shared_slots[j], s, __ATOMIC_ACQ_REL);
            w->local[slot] = old;
            w->transfers++;
            if (old) {
                void* p = ptr_of(old);
                if (!check_pattern(p, size_of(old), cookie_seed(p, size_of(old)))) w->bad_cookies++;
                if ((r >> 58) & 1) {  /* free the foreign block right away */
                    release(w, old);
                    w->local[slot] = 0;
                    w->foreign_frees++;
                }
            }
        } else {
            void* p = ptr_of(s);
            if (!check_pattern(p, size_of(s), cookie_seed(p, size_of(s)))) w->bad_cookies++;
        }
    }
    for (int i = 0; i < NLOCAL; i++)
        if (w->local[i]) { release(w, w->local[i]); w->local[i] = 0; }
    return NULL;
}

static void* validator_main(void* arg) {
    (void)arg;
    do {
        int32_t rc = phn_validate();
        __atomic_fetch_add(&validate_calls, 1, __ATOMIC_RELAXED);
        if (rc != 0) {
            if (validate_failures == 0) fprintf(stderr, "\n  phn_validate() = %d during the run: %s\n", rc, phn_last_error_message());
            validate_failures++;
        }
        phn_stats s;
        if (stats_get(&s) != PHN_OK) {
            stats_failures++;
        } else {
            uint64_t sum = s.bytes_in_allocated_blocks + s.bytes_in_available_blocks + s.bytes_in_unused_pools +
                           s.bytes_lost_to_pool_headers + s.bytes_lost_to_quantization + s.bytes_lost_to_arena_alignment;
            if (sum != s.arenas_allocated_current * PHN_ARENA_SIZE) {
                if (stats_failures == 0) fprintf(stderr, "\n  concurrent snapshot: bytes sum %llu != %llu arenas\n",
                                                 (unsigned long long)sum, (unsigned long long)s.arenas_allocated_current);
                stats_failures++;
            }
        }
        stats_calls++;
        usleep(2000);
    } while (__atomic_load_n(&running, __ATOMIC_ACQUIRE));
    return NULL;
}

int main(void) {
    alarm(240);
    phn_stats s0 = stats_now();
    CHECK("phn_validate() == 0 before the run", phn_validate() == 0);

    pthread_t validator;
    int vt = pthread_create(&validator, NULL, validator_main, NULL);
    int created = 0;
    for (int i = 0; i < NTHREADS; i++) {
        workers[i].id = i;
        workers[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) + 12345;
        if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) == 0) created++;
    }
    CHECK("start 4 worker threads and a validator thread", created == NTHREADS && vt == 0);
    for (int i = 0; i < created; i++) pthread_join(workers[i].th, NULL);
    __atomic_store_n(&running, 0, __ATOMIC_RELEASE);
    if (vt == 0) pthread_join(validator, NULL);

    /* the blocks left in the shared array */
    worker main_w;
    memset(&main_w, 0, sizeof main_w);
    long left = 0;
    for (int j = 0; j < NSHARED; j++)
        if (shared_slots[j]) { release(&main_w, shared_slots[j]); shared_slots[j] = 0; left++; }

    long ops = 0, frees = 0, reallocs = 0, transfers = 0, foreign = 0, errs = 0, nulls = 0, cookies = 0, zeros = 0, aligns = 0;
    for (int i = 0; i < NTHREADS; i++) {
        ops += workers[i].ops;
        frees += workers[i].frees;
        reallocs += workers[i].reallocs;
        transfers += workers[i].transfers;
        foreign += workers[i].foreign_frees;
        errs += workers[i].errors;
        nulls += workers[i].null_results;
        cookies += workers[i].bad_cookies;
        zeros += workers[i].bad_zero;
        aligns += workers[i].bad_align;
    }
    cookies += main_w.bad_cookies;
    fprintf(stderr, "threads: %ld ops, %ld frees, %ld reallocs, %ld transfers (%ld foreign blocks freed at once), %ld left in the shared array; "
                    "validator: %ld phn_validate calls, %ld phn_get_stats calls\n",
            ops, frees + main_w.frees, reallocs, transfers, foreign, left, validate_calls, stats_calls);

    CHECK("no allocation returned NULL", nulls == 0);
    CHECK("every block kept its cookie until it was freed, also across threads", cookies == 0);
    CHECK("every calloc block was zeroed", zeros == 0);
    CHECK("every block was 16-byte aligned", aligns == 0);
    CHECK("every pointer fit in 47 bits (test bookkeeping)", errs == 0);
    CHECK("blocks really moved between threads", foreign > 1000 && left > 0);
    CHECK("phn_validate() ran during the run and always returned 0", validate_calls >= 2 && validate_failures == 0);
    CHECK("phn_get_stats() during the run: always PHN_OK, six bytes lines add up", stats_failures == 0);

    phn_stats s1 = stats_now();
    CHECK("phn_validate() == 0 after everything was freed", phn_validate() == 0);
    CHECK_BODY("allocated_blocks and raw_allocated_blocks back to their starting values") {
        result = s1.allocated_blocks == s0.allocated_blocks && s1.raw_allocated_blocks == s0.raw_allocated_blocks;
        if (!result)
            fprintf(stderr, "\n  allocated_blocks %llu -> %llu, raw %llu -> %llu\n", (unsigned long long)s0.allocated_blocks,
                    (unsigned long long)s1.allocated_blocks, (unsigned long long)s0.raw_allocated_blocks,
                    (unsigned long long)s1.raw_allocated_blocks);
    }
    CHECK_BODY("blocks_in_use of every size class back to its starting value") {
        result = true;
        for (int k = 0; k < 32; k++)
            if (s1.size_classes[k].blocks_in_use != s0.size_classes[k].blocks_in_use) {
                fprintf(stderr, "\n  class %d: %llu -> %llu\n", k, (unsigned long long)s0.size_classes[k].blocks_in_use,
                        (unsigned long long)s1.size_classes[k].blocks_in_use);
                result = false;
            }
    }
    CHECK_BODY("pool counts consistent (in_use + available = pools * capacity, six bytes lines add up)") { result = stats_consistent(&s1); }
    CHECK_BODY("emptied arenas were released: at most one more arena than at the start") {
        result = s1.arenas_allocated_current <= s0.arenas_allocated_current + 1;
        if (!result)
            fprintf(stderr, "\n  arenas %llu -> %llu (highwater %llu)\n", (unsigned long long)s0.arenas_allocated_current,
                    (unsigned long long)s1.arenas_allocated_current, (unsigned long long)s1.arenas_highwater);
    }
    return print_test_summary();
}
