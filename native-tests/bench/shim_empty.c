/* shim_empty.c - an empty export of a Native AOT library (empty-export/, libemptyexport.so,
 * or libemptyexport.a linked statically as "empty-static"):
 * bench_empty_malloc returns the same fixed block every time and bench_empty_free does
 * nothing. It shows what the C -> Native AOT call transition costs on its own, the floor
 * under any allocator exported from C#. Only workloads that write into one block at a time
 * and never keep two blocks' contents apart make sense here (pair, burst, churn). */
#include "shim.h"

#include <stdint.h>
#include <string.h>

void  bench_empty_init(void* block);
void* bench_empty_malloc(size_t size);
void  bench_empty_free(void* p);

static _Alignas(64) unsigned char block[1024];

#ifndef EMPTY_NAME
#define EMPTY_NAME "empty-export"
#endif

const char* bench_name(void) { return EMPTY_NAME; }
int bench_init(void) {
    bench_empty_init(block);  /* first call: starts the Native AOT runtime */
    return 0;
}
void* bench_malloc(size_t size) { return bench_empty_malloc(size); }
void  bench_free(void* p) { bench_empty_free(p); }
void* bench_realloc(void* p, size_t size) { (void)size; return p; }
int bench_supports(const char* workload) {
    return strcmp(workload, "pair") == 0 || strcmp(workload, "burst") == 0 ||
           strcmp(workload, "churn") == 0;
}
int bench_threads_mode(int on) { (void)on; return 1; }
