/* shim_jemalloc.c - jemalloc (Debian's libjemalloc-dev, linked with -ljemalloc).
 * Debian builds jemalloc without a symbol prefix: libjemalloc.so exports malloc, free and
 * realloc themselves (there are no je_* symbols), so linking it replaces the C library's
 * malloc in the whole process. bench_init checks that through mallctl("version"). */
#include "shim.h"

#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>

const char* bench_name(void) { return "jemalloc"; }
int bench_init(void) {
    const char* version = NULL;
    size_t len = sizeof version;
    if (mallctl("version", (void*)&version, &len, NULL, 0) != 0 || version == NULL) {
        fprintf(stderr, "jemalloc: mallctl(\"version\") failed\n");
        return 1;
    }
    void* p = malloc(16);
    free(p);
    return 0;
}
void* bench_malloc(size_t size) { return malloc(size); }
void  bench_free(void* p) { free(p); }
void* bench_realloc(void* p, size_t size) { return realloc(p, size); }
int   bench_supports(const char* workload) { (void)workload; return 1; }
int   bench_threads_mode(int on) { (void)on; return 1; }
