/* shim_mimalloc.c - mimalloc (Debian's libmimalloc-dev, linked with -lmimalloc), called
 * through its own mi_malloc / mi_free / mi_realloc. */
#include "shim.h"

#include <mimalloc.h>
#include <stdio.h>

const char* bench_name(void) { return "mimalloc"; }
int bench_init(void) {
    void* p = mi_malloc(16);  /* start the heap of the main thread before timing */
    mi_free(p);
    return 0;
}
void* bench_malloc(size_t size) { return mi_malloc(size); }
void  bench_free(void* p) { mi_free(p); }
void* bench_realloc(void* p, size_t size) { return mi_realloc(p, size); }
int   bench_supports(const char* workload) { (void)workload; return 1; }
int   bench_threads_mode(int on) { (void)on; return 1; }
