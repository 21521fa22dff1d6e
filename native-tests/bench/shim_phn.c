/* shim_phn.c - PyHeapNative's OBJ domain (phn_obj_malloc / phn_obj_free / phn_obj_realloc).
 * Linked by run.sh against libpyheapnative.so ("phn-shared"; "phn-debug" and "phn-trace" run
 * the same with PYHEAPNATIVE_ALLOCATOR=pymalloc_debug or PYHEAPNATIVE_TRACEMALLOC=1) and
 * against libpyheapnative.a with the Native AOT runtime pieces ("phn-static"); PHN_BENCH_NAME
 * carries the name. */
#include "shim.h"

#include <pyheapnative.h>
#include <stdio.h>
#include <string.h>

#ifndef PHN_BENCH_NAME
#define PHN_BENCH_NAME "phn"
#endif

const char* bench_name(void) { return PHN_BENCH_NAME; }

int bench_init(void) {
    int32_t rc = phn_init();
    if (rc != PHN_OK) {
        fprintf(stderr, "phn_init failed: %d %s\n", (int)rc, phn_last_error_message());
        return 1;
    }
    /* The configuration must be the one this binary stands for. */
    const char* name = phn_allocator_name();
    int tracing = phn_tracemalloc_is_tracing();
    int ok;
    if (strcmp(PHN_BENCH_NAME, "phn-trace") == 0)
        ok = tracing == 1;
    else if (strcmp(PHN_BENCH_NAME, "phn-debug") == 0)
        ok = !tracing && name != NULL && strcmp(name, "pymalloc_debug") == 0;
    else
        ok = !tracing && name != NULL && strcmp(name, "pymalloc") == 0;
    if (!ok) {
        fprintf(stderr, "phn: unexpected configuration for %s: allocator '%s', tracing %d\n", PHN_BENCH_NAME,
                name ? name : "(custom)", tracing);
        return 1;
    }
    return 0;
}

void* bench_malloc(size_t size) { return phn_obj_malloc(size); }
size_t bench_malloc_many(size_t size, size_t n, void** out) { return phn_obj_malloc_many(size, n, out); }
void bench_free_many(void** p, size_t n) { phn_obj_free_many(p, n); }
void  bench_free(void* p) { phn_obj_free(p); }
void* bench_realloc(void* p, size_t size) { return phn_obj_realloc(p, size); }
int   bench_supports(const char* workload) { (void)workload; return 1; }
int   bench_threads_mode(int on) { (void)on; return 1; }
