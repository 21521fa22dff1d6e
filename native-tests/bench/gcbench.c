/* gcbench.c - the collector workloads. Linked with one gcshim_<collector>.c per binary.
 *
 *   gcbench-<collector> gc-SHAPE-SIZE
 *
 * SHAPE is pairs, ring or random; SIZE is 100k or 1m (objects, the root not counted). One
 * process builds one graph and measures it twice, printing tab-separated lines
 *
 *   RESULT <collector> gc-SHAPE-SIZE 0 <metric> <value>
 *
 * with the metrics, in ns per object:
 *   survive_ns  a full collection while every object is reachable from the root, after a
 *               first full collection has moved them into the oldest generation (the first
 *               one is reported as first_ns); it must find 0 unreachable objects;
 *   garbage_ns  the root dropped, a full collection that finds every object unreachable and
 *               frees it; it must find exactly SIZE objects;
 *   build_ns    building the graph (creating the nodes and storing the references);
 *   first_ns    the first full collection, of objects that were all young.
 * and the checks (not timed): after the garbage collection no node is tracked any more, the
 * object allocator's live block count is back to its value before the build, and (callback
 * types) every node and the root went through the dealloc. Any count that differs from what
 * the graph implies is a failure: a message on stderr and exit status 4.
 *
 * Shapes (the same for every collector: the targets come from one fixed-seed splitmix64
 * and are computed before the clock starts):
 *   pairs   SIZE/2 two-element cycles a <-> b (each node 1 reference); the root holds a
 *   ring    one cycle 0 -> 1 -> ... -> SIZE-1 -> 0 (1 reference each); the root holds node 0
 *   random  4 references per node: the first to its successor on a random Hamiltonian cycle
 *           (a random permutation), so that every node is on a cycle and none is freed by
 *           reference counting when the root goes, the other 3 to uniformly random nodes
 *           (self-references and duplicates allowed); the root holds node 0
 * The root is one more node (a list / a node of the same type) held by the program; the
 * nodes are created first, then the references are stored, then the program's own
 * references to the nodes are dropped, so that only the root keeps the graph alive.
 * Automatic collection is off from start to end; the collections are explicit.
 */
#define _GNU_SOURCE
#include "gcshim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct { uint64_t s; } rng;

static inline uint64_t rng_next(rng* r) {  /* splitmix64, as bench.c */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint32_t rng_below(rng* r, uint32_t n) {
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static void* harness_alloc(size_t bytes) {  /* outside every allocator, resident at once */
    void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(2); }
    return p;
}

static const char* g_workload;

static void result(const char* metric, double value) {
    printf("RESULT\t%s\t%s\t0\t%s\t%.4f\n", gcb_name(), g_workload, metric, value);
    fflush(stdout);
}

static void fail(const char* what, long long got, long long expected) {
    fprintf(stderr, "%s %s: %s: got %lld, expected %lld\n", gcb_name(), g_workload, what, got, expected);
    exit(4);
}

enum shape { PAIRS, RING, RANDOM };

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s gc-{pairs,ring,random}-{100k,1m}\n", argv[0]);
        return 2;
    }
    g_workload = argv[1];
    char shape_name[16] = "", size_name[16] = "";
    if (sscanf(g_workload, "gc-%15[a-z]-%15[0-9a-z]", shape_name, size_name) != 2) {
        fprintf(stderr, "unknown workload '%s'\n", g_workload);
        return 2;
    }
    enum shape shape;
    size_t n, k;  /* objects, references per object */
    if (strcmp(shape_name, "pairs") == 0) { shape = PAIRS; k = 1; }
    else if (strcmp(shape_name, "ring") == 0) { shape = RING; k = 1; }
    else if (strcmp(shape_name, "random") == 0) { shape = RANDOM; k = 4; }
    else { fprintf(stderr, "unknown shape '%s'\n", shape_name); return 2; }
    if (strcmp(size_name, "100k") == 0) n = 100000;
    else if (strcmp(size_name, "1m") == 0) n = 1000000;
    else { fprintf(stderr, "unknown size '%s'\n", size_name); return 2; }

    /* The graph, as node indices: target[i * k + j] is reference j of node i. */
    uint32_t* target = harness_alloc(n * k * sizeof(uint32_t));
    void** node = harness_alloc(n * sizeof(void*));
    for (size_t i = 0; i < n; i++) {
        if (shape == PAIRS) target[i] = (uint32_t)(i ^ 1);
        else if (shape == RING) target[i] = (uint32_t)((i + 1) % n);
    }
    if (shape == RANDOM) {
        rng r = { 0x5EED6C00u };
        uint32_t* perm = harness_alloc(n * sizeof(uint32_t));
        for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
        for (size_t i = n - 1; i > 0; i--) {  /* Fisher-Yates */
            uint32_t j = rng_below(&r, (uint32_t)(i + 1));
            uint32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        for (size_t i = 0; i < n; i++) target[(size_t)perm[i] * k] = perm[(i + 1) % n];
        for (size_t i = 0; i < n; i++)
            for (size_t j = 1; j < k; j++) target[i * k + j] = rng_below(&r, (uint32_t)n);
        munmap(perm, n * sizeof(uint32_t));
    }
    size_t root_refs = shape == PAIRS ? n / 2 : 1;  /* the root holds node 0, 2, 4 ... */

    if (gcb_init() != 0) return 1;
    int64_t blocks0 = gcb_allocated_blocks();
    int64_t tracked0 = gcb_tracked();

    /* build */
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        node[i] = gcb_node_new(k);
        if (node[i] == NULL) fail("node allocation (NULL)", (long long)i, -1);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++)
            if (gcb_node_set(node[i], j, node[target[i * k + j]]) != 0) fail("storing a reference", (long long)i, -1);
    uint64_t t1 = now_ns();
    void* root = gcb_node_new(root_refs);
    if (root == NULL) fail("root allocation (NULL)", 0, -1);
    for (size_t j = 0; j < root_refs; j++)
        if (gcb_node_set(root, j, node[shape == PAIRS ? 2 * j : 0]) != 0) fail("storing a root reference", (long long)j, -1);
    for (size_t i = 0; i < n; i++) gcb_release(node[i]);  /* only the root holds the graph now */
    if (tracked0 >= 0 && gcb_tracked() - tracked0 != (int64_t)n + 1)
        fail("tracked objects after the build (nodes + root)", (long long)(gcb_tracked() - tracked0), (long long)n + 1);
    if (gcb_deallocs() > 0) fail("nodes deallocated while the root holds them", (long long)gcb_deallocs(), 0);

    /* the first full collection: young objects, all reachable */
    uint64_t t2 = now_ns();
    int64_t c = gcb_collect();
    uint64_t t3 = now_ns();
    if (c != 0) fail("unreachable objects found by the first collection", (long long)c, 0);

    /* all survive: a full collection of old objects */
    uint64_t t4 = now_ns();
    c = gcb_collect();
    uint64_t t5 = now_ns();
    if (c != 0) fail("unreachable objects found while the root holds every object", (long long)c, 0);

    /* all garbage: drop the root (freed by reference counting, not counted), collect */
    gcb_release(root);
    if (tracked0 >= 0 && gcb_tracked() - tracked0 != (int64_t)n)
        fail("tracked objects after dropping the root", (long long)(gcb_tracked() - tracked0), (long long)n);
    uint64_t t6 = now_ns();
    c = gcb_collect();
    uint64_t t7 = now_ns();
    if (c != (int64_t)n) fail("unreachable objects found once the root is dropped", (long long)c, (long long)n);
    if (tracked0 >= 0 && gcb_tracked() != tracked0)
        fail("tracked objects after the garbage collection", (long long)(gcb_tracked() - tracked0), 0);
    if (gcb_deallocs() >= 0 && gcb_deallocs() != (int64_t)n + 1)
        fail("nodes deallocated (nodes + root)", (long long)gcb_deallocs(), (long long)n + 1);
    int64_t blocks1 = gcb_allocated_blocks();
    if (blocks0 >= 0 && (blocks1 < blocks0 - gcb_block_slack() || blocks1 > blocks0 + gcb_block_slack()))
        fail("allocated blocks after the garbage collection, minus before the build", (long long)(blocks1 - blocks0), 0);

    double dn = (double)n;
    result("survive_ns", (double)(t5 - t4) / dn);
    result("garbage_ns", (double)(t7 - t6) / dn);
    result("build_ns", (double)(t1 - t0) / dn);
    result("first_ns", (double)(t3 - t2) / dn);
    return 0;
}
