/* shim_glibc.c - the C library's malloc (glibc ptmalloc2 on Debian). */
#include "shim.h"

#include <stdlib.h>

const char* bench_name(void) { return "glibc"; }
int   bench_init(void) { return 0; }
void* bench_malloc(size_t size) { return malloc(size); }
void  bench_free(void* p) { free(p); }
void* bench_realloc(void* p, size_t size) { return realloc(p, size); }
int   bench_supports(const char* workload) { (void)workload; return 1; }
int   bench_threads_mode(int on) { (void)on; return 1; }
