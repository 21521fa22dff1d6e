/* shim.h - the one API every allocator under comparison is reached through.
 *
 * bench.c holds the workloads and calls only these functions; each shim_<allocator>.c
 * implements them for one allocator, and run.sh links bench.c with exactly one shim per
 * binary (shim_phn.c twice: against libpyheapnative.so and against libpyheapnative.a).
 * The shims live in their own translation unit, so gcc cannot inline or elide the calls
 * (no -flto): every allocator pays the same C call into its shim.
 */
#ifndef PHN_BENCH_SHIM_H
#define PHN_BENCH_SHIM_H

#include <stddef.h>

/* Short name of the allocator, as it appears in the results ("phn", "glibc", ...). */
const char* bench_name(void);

/* Start the allocator (phn_init, Py_Initialize, ...). Called once, before any timing.
 * Returns 0, or non-zero with a message on stderr. */
int bench_init(void);

void* bench_malloc(size_t size);
void  bench_free(void* p);
void* bench_realloc(void* p, size_t size);

/* Which workloads the shim supports: 1 = yes. The empty export returns a fixed block and
 * supports only the workloads that never use the contents of more than one block. */
int bench_supports(const char* workload);

/* Called by the main thread before starting worker threads (on = 1) and after joining them
 * (on = 0). CPython's pymalloc needs the GIL: its shim releases it here and takes it
 * around every call while threads mode is on. The other shims do nothing.
 * Returns the factor by which the threads workload is shortened for this allocator (1, or
 * 10 for pymalloc, whose GIL round trips make every step 20-50 times slower); its results
 * are per step, so the factor changes the run time, not what is measured. */
int bench_threads_mode(int on);

/* Batches (the "batch" workload): n blocks in one call. bench.c has weak defaults that loop
 * over bench_malloc / bench_free, so that every allocator runs the same workload; a shim with
 * a real batch API (PyHeapNative's phn_obj_malloc_many) overrides them. */
size_t bench_malloc_many(size_t size, size_t n, void** out);
void   bench_free_many(void** p, size_t n);

#endif /* PHN_BENCH_SHIM_H */
