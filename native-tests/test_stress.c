/* test_stress.c - random operation sequences checked against a model, with the heap's
 * invariant checker (phn_validate) run after every step, tracemalloc started, cleared and
 * stopped along the way (blocks of pymalloc's traced heap meet every path); and a race on the
 * slow path where pymalloc drops its lock to call a slow arena allocator while other threads
 * add arenas. */
#include <pyheapnative.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testhelper.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(uint64_t* s) {   /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t allocated_blocks(void) {
    phn_stats s;
    s.struct_size = sizeof s;
    if (phn_get_stats(&s) != PHN_OK) return UINT64_MAX;
    return s.allocated_blocks;
}

static uint64_t arenas_current(void) {
    phn_stats s;
    s.struct_size = sizeof s;
    if (phn_get_stats(&s) != PHN_OK) return UINT64_MAX;
    return s.arenas_allocated_current;
}

enum { SLOTS = 3000 };
typedef struct { unsigned char* p; size_t size; int domain; uint8_t cookie; bool traced; } slot;
static slot model[SLOTS];
static bool tracing_now;   /* the model's view: blocks made or resized while it holds are traced */

static size_t random_size(void) {
    uint64_t r = next_random(&rng_state);
    switch (r % 16) {
        case 0: return 0;
        case 1: return 513 + (r >> 8) % 4000;            /* RAW fallback */
        case 2: return 497 + (r >> 8) % 16;              /* the edge of the small classes */
        default: return 1 + (r >> 8) % 512;              /* pymalloc */
    }
}

static void fill(slot* s) {
    for (size_t i = 0; i < s->size; i++) s->p[i] = (unsigned char)(s->cookie + i);
}

static bool intact(const slot* s, size_t n) {
    for (size_t i = 0; i < n && i < s->size; i++)
        if (s->p[i] != (unsigned char)(s->cookie + i)) return false;
    return true;
}

static void* dom_malloc(int d, size_t n) { return d == PHN_DOMAIN_MEM ? phn_mem_malloc(n) : phn_obj_malloc(n); }
static void* dom_calloc(int d, size_t n) { return d == PHN_DOMAIN_MEM ? phn_mem_calloc(1, n) : phn_obj_calloc(n, 1); }
static void* dom_realloc(int d, void* p, size_t n) { return d == PHN_DOMAIN_MEM ? phn_mem_realloc(p, n) : phn_obj_realloc(p, n); }
static void dom_free(int d, void* p) { if (d == PHN_DOMAIN_MEM) phn_mem_free(p); else phn_obj_free(p); }

/* One step of the model: allocate into an empty slot, or check, then free or resize a full one.
 * Returns false on the first disagreement. */
static bool step(const char** why) {
    slot* s = &model[next_random(&rng_state) % SLOTS];
    if (s->p == NULL) {
        s->domain = next_random(&rng_state) & 1 ? PHN_DOMAIN_MEM : PHN_DOMAIN_OBJ;
        s->size = random_size();
        s->cookie = (uint8_t)next_random(&rng_state);
        bool zeroed = next_random(&rng_state) % 4 == 0;
        s->p = zeroed ? dom_calloc(s->domain, s->size) : dom_malloc(s->domain, s->size);
        if (s->p == NULL) { *why = "allocation failed"; return false; }
        s->traced = tracing_now;
        if (((uintptr_t)s->p & 15) != 0) { *why = "block not 16-byte aligned"; return false; }
        if (zeroed)
            for (size_t i = 0; i < s->size; i++)
                if (s->p[i] != 0) { *why = "calloc block not zeroed"; return false; }
        fill(s);
        return true;
    }
    if (!intact(s, s->size)) { *why = "block contents changed"; return false; }
    if (next_random(&rng_state) % 3 == 0) {
        size_t n = random_size();
        unsigned char* q = dom_realloc(s->domain, s->p, n);
        if (q == NULL) { *why = "realloc failed"; return false; }
        s->p = q;
        s->traced = tracing_now;
        size_t kept = n < s->size ? n : s->size;
        if (!intact(s, kept)) { *why = "realloc lost contents"; return false; }
        s->size = n;
        fill(s);
        return true;
    }
    dom_free(s->domain, s->p);
    s->p = NULL;
    return true;
}

static size_t live_blocks(void) {
    size_t n = 0;
    for (int i = 0; i < SLOTS; i++) n += model[i].p != NULL;
    return n;
}

static size_t traced_sum(void) {
    size_t n = 0;
    for (int i = 0; i < SLOTS; i++) n += model[i].p != NULL && model[i].traced ? model[i].size : 0;
    return n;
}

/* Every 5000 steps: start tracing, clear its traces, stop it, in turn. */
static bool switch_tracing(int steps, const char** why) {
    int k = (steps / 5000) % 3;
    int32_t rc = k == 1 ? phn_tracemalloc_start(1) : k == 2 ? phn_tracemalloc_clear_traces() : phn_tracemalloc_stop();
    tracing_now = k != 0;
    for (int i = 0; i < SLOTS; i++) model[i].traced = false;
    if (rc != PHN_OK) *why = "tracemalloc start/clear/stop failed";
    return rc == PHN_OK;
}

static void test_model_sequence(void) {
    uint64_t base_blocks = allocated_blocks();
    uint64_t base_arenas = arenas_current();
    const char* why = NULL;
    int steps = 0, checked = 0;
    bool ok_all = true;

    /* Validate after every step for a first stretch, then every 64 steps. */
    for (; steps < 120000 && ok_all; steps++) {
        if (steps > 0 && steps % 5000 == 0)
            ok_all = switch_tracing(steps, &why);
        ok_all = ok_all && step(&why);
        if (ok_all && (steps < 20000 || steps % 64 == 0)) {
            checked++;
            size_t current = 0;
            phn_tracemalloc_get_traced_memory(&current, NULL);
            if (phn_validate() != PHN_OK) { why = phn_last_error_message(); ok_all = false; }
            else if (allocated_blocks() != base_blocks + live_blocks()) { why = "allocated_blocks disagrees with the model"; ok_all = false; }
            else if (current != (tracing_now ? traced_sum() : 0)) { why = "the traced memory disagrees with the model"; ok_all = false; }
        }
    }
    if (!ok_all) fprintf(stderr, "\n  step %d: %s\n", steps, why);
    CHECK("model: 120000 random steps agree with the model and the invariants, tracemalloc started, cleared and stopped every 5000 steps (traced memory == the model's)",
          ok_all && checked > 20000);
    phn_tracemalloc_stop();
    tracing_now = false;

    /* A burst that needs many arenas, then back. */
    CHECK_BODY("model: burst of 60000 blocks and back, validated") {
        for (int round = 0; round < 3 && result; round++) {
            enum { BURST = 60000 };
            static void* burst[BURST];
            for (int i = 0; i < BURST; i++) burst[i] = phn_obj_malloc(1 + (size_t)(next_random(&rng_state) % 512));
            result = phn_validate() == PHN_OK;
            for (int i = 0; i < BURST; i++) {  /* free in a scattered order */
                size_t j = (size_t)(((uint64_t)i * 7919u) % BURST);
                phn_obj_free(burst[j]);
            }
            result = result && phn_validate() == PHN_OK && allocated_blocks() == base_blocks + live_blocks();
        }
    }

    for (int i = 0; i < SLOTS; i++)
        if (model[i].p != NULL) { dom_free(model[i].domain, model[i].p); model[i].p = NULL; }
    CHECK("model: everything freed: blocks back to the start, heap valid",
          allocated_blocks() == base_blocks && phn_validate() == PHN_OK);
    CHECK("model: at most one empty arena kept beyond the start", arenas_current() <= base_arenas + 1);
}

/* ---- the lock-dropping slow path under contention ------------------------------------- */

static phn_arena_allocator default_arenas;
static volatile int slow_arena_calls;

static void* slow_arena_alloc(void* ctx, size_t size) {
    (void)ctx;
    __atomic_add_fetch(&slow_arena_calls, 1, __ATOMIC_RELAXED);
    struct timespec ts = { 0, 200000 };   /* 0.2 ms: other threads run meanwhile */
    nanosleep(&ts, NULL);
    return default_arenas.alloc(default_arenas.ctx, size);
}

static void slow_arena_free(void* ctx, void* p, size_t size) {
    (void)ctx;
    default_arenas.free(default_arenas.ctx, p, size);
}

enum { RACE_THREADS = 4, RACE_BLOCKS = 20000 };
static void* race_blocks[RACE_THREADS][RACE_BLOCKS];
static volatile int race_go;

static void* race_thread(void* arg) {
    int t = (int)(intptr_t)arg;
    while (!race_go) { }
    for (int i = 0; i < RACE_BLOCKS; i++) {
        race_blocks[t][i] = phn_obj_malloc(512);
        if (race_blocks[t][i] != NULL) memset(race_blocks[t][i], t, 512);
    }
    return NULL;
}

static void test_arena_race(void) {
    CHECK("race: get the default arena allocator", phn_get_arena_allocator(&default_arenas) == PHN_OK);
    phn_arena_allocator slow = { NULL, slow_arena_alloc, slow_arena_free };
    CHECK("race: install a slow arena allocator", phn_set_arena_allocator(&slow) == PHN_OK);

    uint64_t before = allocated_blocks();
    pthread_t th[RACE_THREADS];
    for (int t = 0; t < RACE_THREADS; t++) pthread_create(&th[t], NULL, race_thread, (void*)(intptr_t)t);
    race_go = 1;
    for (int t = 0; t < RACE_THREADS; t++) pthread_join(th[t], NULL);

    CHECK_BODY("race: 80000 blocks of 512 bytes from 4 threads, arenas added concurrently") {
        for (int t = 0; t < RACE_THREADS && result; t++)
            for (int i = 0; i < RACE_BLOCKS && result; i++) {
                unsigned char* b = race_blocks[t][i];
                result = b != NULL && b[0] == t && b[511] == t;
            }
        result = result && slow_arena_calls >= 40;   /* past 16 and 32 arena objects */
    }
    CHECK("race: heap valid, every block counted", phn_validate() == PHN_OK &&
          allocated_blocks() == before + RACE_THREADS * RACE_BLOCKS);
    for (int t = 0; t < RACE_THREADS; t++)
        for (int i = 0; i < RACE_BLOCKS; i++) phn_obj_free(race_blocks[t][i]);
    CHECK("race: all freed, heap valid", phn_validate() == PHN_OK && allocated_blocks() == before);
    CHECK("race: restore the default arena allocator", phn_set_arena_allocator(&default_arenas) == PHN_OK);
}

int main(void) {
    phn_init();
    rng_state ^= (uint64_t)time(NULL);
    fprintf(stderr, "seed %llu\n", (unsigned long long)rng_state);
    test_model_sequence();
    test_arena_race();
    return print_test_summary();
}
