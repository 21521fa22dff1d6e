/* bench.c - the allocator workloads. Linked with one shim_<allocator>.c per binary.
 *
 *   bench-<allocator> WORKLOAD [REPETITIONS]
 *
 * runs one workload REPETITIONS times (default 1) in this process and prints one line per
 * repetition and metric, tab-separated:
 *
 *   RESULT <allocator> <workload> <repetition> <metric> <value>
 *
 * The main metric of a workload is listed first: ns_per_op for the timed workloads,
 * ratio_2t_1t for threads, bytes_per_block for rss32 / rss100. A workload the shim does
 * not support prints "SKIP <allocator> <workload>" and exits 0.
 *
 * Workloads (BENCH_QUICK=1 in the environment divides the sizes for a smoke run):
 *   pair     malloc(32), write a byte, free; 10M times, with one other 32 B block live;
 *            ns per pair
 *   burst    1M blocks of random size 1..512 B allocated, then freed in random order;
 *            ns per block (allocation + free; also alloc_ns and free_ns)
 *   churn    100k live blocks of 8..512 B, then 10M steps of "free a random one, allocate
 *            a new one of random size in its place"; ns per step (free + malloc)
 *   realloc  a block grown from 8 B to 64 KiB in 8-byte steps (8191 reallocs), writing its
 *            last byte after each step, 1000 times; ns per realloc
 *   large    16 live blocks; 100k steps replacing a random one by a block of 4 KiB..1 MiB
 *            (log-uniform), writing one byte per 4 KiB page; ns per step (free + malloc)
 *   threads  churn (50k live blocks, 4M steps per thread) on 1 thread, then on 2 threads
 *            each with its own blocks; ratio_2t_1t = throughput(2 threads) /
 *            throughput(1 thread); also ns_per_op_1t and ns_per_op_2t (per step and thread).
 *            pymalloc takes the GIL around every call and does a tenth of the steps
 *   rss32    resident memory grown by 1M live blocks of 32 B, in bytes per block
 *   rss100   the same for 100 B blocks
 *
 * Everything the harness itself needs (pointer arrays, sizes, permutations) is mapped with
 * mmap(MAP_POPULATE) before the clock starts, so it costs the same under every allocator
 * (jemalloc and mimalloc replace the process's malloc) and is already resident when the
 * RSS workloads take their "before" reading: it is not counted in bytes_per_block.
 * Random numbers come from a fixed-seed splitmix64, the same sequence for every allocator.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int quick;

static size_t scaled(size_t full, size_t quick_value) { return quick ? quick_value : full; }

/* ------------------------------------------------------------------ helpers */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct { uint64_t s; } rng;

static inline uint64_t rng_next(rng* r) {  /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, n) without division (Lemire), n < 2^32 */
static inline uint32_t rng_below(rng* r, uint32_t n) {
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static void* harness_alloc(size_t bytes) {  /* outside every allocator, resident at once */
    void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(2); }
    return p;
}
static void harness_free(void* p, size_t bytes) { munmap(p, bytes); }

static void* must(void* p, size_t size) {
    if (p == NULL) {
        fprintf(stderr, "%s: allocation of %zu bytes failed\n", bench_name(), size);
        exit(3);
    }
    return p;
}

static const char* g_workload;

static void result(int rep, const char* metric, double value) {
    printf("RESULT\t%s\t%s\t%d\t%s\t%.4f\n", bench_name(), g_workload, rep, metric, value);
    fflush(stdout);
}

static long resident_pages(void) {
    FILE* f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2) { perror("statm"); exit(2); }
    fclose(f);
    return resident;
}

#define TOUCH(p, v) (*(volatile unsigned char*)(p) = (unsigned char)(v))
#define CHECK(p, size) do { if (__builtin_expect((p) == NULL, 0)) must(NULL, (size)); } while (0)

/* ------------------------------------------------------------------ workloads */

static void w_pair(int rep) {
    size_t n = scaled(10000000, 1000000);
    /* One 32 B block stays live throughout, as in any program that uses the allocator (and
     * in CPython after Py_Initialize). Without it a pool-based allocator (pymalloc,
     * PyHeapNative) sees its only 32 B pool become empty at every free and takes a fresh
     * pool at every malloc, which is not the fast path this workload is about. */
    void* ballast = must(bench_malloc(32), 32);
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        void* p = bench_malloc(32);
        CHECK(p, 32);
        TOUCH(p, i);
        bench_free(p);
    }
    uint64_t t1 = now_ns();
    bench_free(ballast);
    result(rep, "ns_per_op", (double)(t1 - t0) / (double)n);
}

/* Default batches: one call per block (a shim with a batch API overrides these). */
__attribute__((weak)) size_t bench_malloc_many(size_t size, size_t n, void** out) {
    for (size_t i = 0; i < n; i++)
        if ((out[i] = bench_malloc(size)) == NULL) return i;
    return n;
}

__attribute__((weak)) void bench_free_many(void** p, size_t n) {
    for (size_t i = 0; i < n; i++) bench_free(p[i]);
}

/* batch: 64 blocks of 32 B allocated in one batch and freed in one batch; ns per block
 * (a malloc + free pair, as in pair). */
static void w_batch(int rep) {
    enum { B = 64 };
    size_t rounds = scaled(10000000, 1000000) / B;
    void* blocks[B];
    void* ballast = must(bench_malloc(32), 32);
    uint64_t t0 = now_ns();
    for (size_t r = 0; r < rounds; r++) {
        if (bench_malloc_many(32, B, blocks) != B) must(NULL, 32);
        TOUCH(blocks[0], r);
        TOUCH(blocks[B - 1], r);
        bench_free_many(blocks, B);
    }
    uint64_t t1 = now_ns();
    bench_free(ballast);
    result(rep, "ns_per_op", (double)(t1 - t0) / (double)(rounds * B));
}

static void w_burst(int rep) {
    size_t n = scaled(1000000, 200000);
    void** a = harness_alloc(n * sizeof(void*));
    uint16_t* sizes = harness_alloc(n * sizeof(uint16_t));
    uint32_t* order = harness_alloc(n * sizeof(uint32_t));
    rng r = { 0x5EED0001u };
    for (size_t i = 0; i < n; i++) sizes[i] = (uint16_t)(1 + rng_below(&r, 512));
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {  /* Fisher-Yates */
        uint32_t j = rng_below(&r, (uint32_t)(i + 1));
        uint32_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        void* p = bench_malloc(sizes[i]);
        CHECK(p, sizes[i]);
        TOUCH(p, i);
        a[i] = p;
    }
    uint64_t t1 = now_ns();
    for (size_t i = 0; i < n; i++) bench_free(a[order[i]]);
    uint64_t t2 = now_ns();
    result(rep, "ns_per_op", (double)(t2 - t0) / (double)n);
    result(rep, "alloc_ns", (double)(t1 - t0) / (double)n);
    result(rep, "free_ns", (double)(t2 - t1) / (double)n);
    harness_free(a, n * sizeof(void*));
    harness_free(sizes, n * sizeof(uint16_t));
    harness_free(order, n * sizeof(uint32_t));
}

/* The churn loop, shared by churn and threads. */
static void churn_fill(void** a, size_t live, rng* r) {
    for (size_t i = 0; i < live; i++) {
        size_t s = 8 + rng_below(r, 505);
        a[i] = must(bench_malloc(s), s);
        TOUCH(a[i], i);
    }
}
static void churn_steps(void** a, size_t live, size_t steps, rng* r) {
    for (size_t i = 0; i < steps; i++) {
        uint64_t x = rng_next(r);
        uint32_t j = (uint32_t)(((x >> 32) * (uint64_t)live) >> 32);
        size_t s = 8 + (size_t)(((x & 0xFFFFFFFFu) * 505u) >> 32);
        bench_free(a[j]);
        void* p = bench_malloc(s);
        CHECK(p, s);
        TOUCH(p, i);
        a[j] = p;
    }
}
static void churn_drain(void** a, size_t live) {
    for (size_t i = 0; i < live; i++) bench_free(a[i]);
}

static void w_churn(int rep) {
    size_t live = 100000, steps = scaled(10000000, 1000000);
    void** a = harness_alloc(live * sizeof(void*));
    rng r = { 0x5EED0002u };
    churn_fill(a, live, &r);
    uint64_t t0 = now_ns();
    churn_steps(a, live, steps, &r);
    uint64_t t1 = now_ns();
    churn_drain(a, live);
    result(rep, "ns_per_op", (double)(t1 - t0) / (double)steps);
    harness_free(a, live * sizeof(void*));
}

static void w_realloc(int rep) {
    size_t rounds = scaled(1000, 100), ops = 0;
    uint64_t t0 = now_ns();
    for (size_t k = 0; k < rounds; k++) {
        unsigned char* p = must(bench_malloc(8), 8);
        TOUCH(p + 7, k);
        for (size_t s = 16; s <= 65536; s += 8) {
            p = bench_realloc(p, s);
            CHECK(p, s);
            TOUCH(p + s - 1, s);
            ops++;
        }
        bench_free(p);
    }
    uint64_t t1 = now_ns();
    result(rep, "ns_per_op", (double)(t1 - t0) / (double)ops);
}

static void w_large(int rep) {
    enum { SLOTS = 16 };
    size_t steps = scaled(100000, 10000);
    void* slot[SLOTS] = { 0 };
    rng r = { 0x5EED0004u };
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < steps; i++) {
        uint32_t j = rng_below(&r, SLOTS);
        unsigned e = 12 + rng_below(&r, 8);                  /* 4 KiB .. 512 KiB */
        size_t s = ((size_t)1 << e) + rng_below(&r, 1u << e);  /* .. 1 MiB */
        bench_free(slot[j]);
        unsigned char* p = must(bench_malloc(s), s);
        for (size_t off = 0; off < s; off += 4096) TOUCH(p + off, i);
        slot[j] = p;
    }
    uint64_t t1 = now_ns();
    for (int j = 0; j < SLOTS; j++) bench_free(slot[j]);
    result(rep, "ns_per_op", (double)(t1 - t0) / (double)steps);
}

typedef struct {
    pthread_barrier_t* start;
    pthread_barrier_t* stop;
    size_t live, steps;
    uint64_t seed, t0, t1;
} worker;

static void* worker_main(void* arg) {
    worker* w = arg;
    void** a = harness_alloc(w->live * sizeof(void*));
    rng r = { w->seed };
    churn_fill(a, w->live, &r);
    pthread_barrier_wait(w->start);
    w->t0 = now_ns();
    churn_steps(a, w->live, w->steps, &r);
    w->t1 = now_ns();
    pthread_barrier_wait(w->stop);  /* nobody drains while another is still timed */
    churn_drain(a, w->live);
    harness_free(a, w->live * sizeof(void*));
    return NULL;
}

/* Wall time of nthreads threads each doing the churn on its own blocks. */
static uint64_t run_threads(int nthreads, size_t live, size_t steps, int rep) {
    pthread_t tid[2];
    worker w[2];
    pthread_barrier_t start, stop;
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    pthread_barrier_init(&stop, NULL, (unsigned)nthreads);
    for (int t = 0; t < nthreads; t++) {
        w[t] = (worker){ &start, &stop, live, steps, 0x5EED1000u + (uint64_t)rep * 16 + (uint64_t)t, 0, 0 };
        if (pthread_create(&tid[t], NULL, worker_main, &w[t]) != 0) { perror("pthread_create"); exit(2); }
    }
    for (int t = 0; t < nthreads; t++) pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&stop);
    uint64_t t0 = w[0].t0, t1 = w[0].t1;
    for (int t = 1; t < nthreads; t++) {
        if (w[t].t0 < t0) t0 = w[t].t0;
        if (w[t].t1 > t1) t1 = w[t].t1;
    }
    return t1 - t0;
}

static void w_threads(int rep) {
    size_t live = 50000, steps = scaled(4000000, 400000);
    steps /= (size_t)bench_threads_mode(1);
    uint64_t one = run_threads(1, live, steps, rep);
    uint64_t two = run_threads(2, live, steps, rep);
    bench_threads_mode(0);
    /* throughput = steps done / wall time: 2*steps/two against steps/one */
    result(rep, "ratio_2t_1t", 2.0 * (double)one / (double)two);
    result(rep, "ns_per_op_1t", (double)one / (double)steps);
    result(rep, "ns_per_op_2t", (double)two / (double)steps);
}

static void w_rss(int rep, size_t size) {
    size_t n = scaled(1000000, 200000);
    void** a = harness_alloc(n * sizeof(void*));
    void* warm = must(bench_malloc(size), size);  /* lazy set-up of the allocator */
    bench_free(warm);
    long before = resident_pages();
    for (size_t i = 0; i < n; i++) {
        a[i] = must(bench_malloc(size), size);
        TOUCH(a[i], i);
    }
    long after = resident_pages();
    long page = sysconf(_SC_PAGESIZE);
    result(rep, "bytes_per_block", (double)(after - before) * (double)page / (double)n);
    for (size_t i = 0; i < n; i++) bench_free(a[i]);
    harness_free(a, n * sizeof(void*));
}

/* ------------------------------------------------------------------ main */

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s pair|burst|churn|realloc|large|threads|rss32|rss100 [repetitions]\n", argv[0]);
        return 2;
    }
    const char* q = getenv("BENCH_QUICK");
    quick = q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
    g_workload = argv[1];
    int reps = argc > 2 ? atoi(argv[2]) : 1;
    if (reps < 1) reps = 1;

    static const char* known[] = { "pair", "batch", "burst", "churn", "realloc", "large", "threads", "rss32", "rss100" };
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) ok |= strcmp(g_workload, known[i]) == 0;
    if (!ok) { fprintf(stderr, "unknown workload '%s'\n", g_workload); return 2; }
    if (!bench_supports(g_workload)) {
        printf("SKIP\t%s\t%s\n", bench_name(), g_workload);
        return 0;
    }
    if (bench_init() != 0) return 1;

    if (strncmp(g_workload, "rss", 3) == 0) {
        /* freed memory stays with the allocator: only the first repetition of a process
         * measures growth from the OS. */
        w_rss(0, strcmp(g_workload, "rss32") == 0 ? 32 : 100);
        return 0;
    }
    for (int rep = 0; rep < reps; rep++) {
        if (strcmp(g_workload, "pair") == 0) w_pair(rep);
        else if (strcmp(g_workload, "batch") == 0) w_batch(rep);
        else if (strcmp(g_workload, "burst") == 0) w_burst(rep);
        else if (strcmp(g_workload, "churn") == 0) w_churn(rep);
        else if (strcmp(g_workload, "realloc") == 0) w_realloc(rep);
        else if (strcmp(g_workload, "large") == 0) w_large(rep);
        else if (strcmp(g_workload, "threads") == 0) w_threads(rep);
    }
    return 0;
}
