/* shim_pymalloc.c - CPython 3.11's pymalloc: PyObject_Malloc / PyObject_Free /
 * PyObject_Realloc from Debian's libpython3.11 (python3.11-config --embed), after
 * Py_Initialize. The main thread holds the GIL after Py_Initialize, as pymalloc requires.
 *
 * Threads workload: pymalloc is not thread-safe without the GIL, so in threads mode the
 * main thread releases the GIL (PyEval_SaveThread) and every call takes it around itself
 * (PyGILState_Ensure / PyGILState_Release), on 1 thread as on 2. That row measures
 * CPython's way of sharing the allocator between threads, not pymalloc alone; it runs a
 * tenth of the steps (see bench_threads_mode in shim.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "shim.h"

static int threads_mode;
static PyThreadState* saved;

#ifndef PYMALLOC_BENCH_NAME
#define PYMALLOC_BENCH_NAME "pymalloc"   /* pymalloc-debug, pymalloc-trace: see run.sh's env_of */
#endif

const char* bench_name(void) { return PYMALLOC_BENCH_NAME; }

int bench_init(void) {
    Py_Initialize();
    if (!Py_IsInitialized()) {
        fprintf(stderr, "pymalloc: Py_Initialize failed\n");
        return 1;
    }
    return 0;
}

/* The GIL paths are out of line so that the single-threaded path stays a test and a tail
 * call, as in the other shims. */
__attribute__((noinline)) static void* gil_malloc(size_t size) {
    PyGILState_STATE st = PyGILState_Ensure();
    void* p = PyObject_Malloc(size);
    PyGILState_Release(st);
    return p;
}
__attribute__((noinline)) static void gil_free(void* p) {
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject_Free(p);
    PyGILState_Release(st);
}
__attribute__((noinline)) static void* gil_realloc(void* p, size_t size) {
    PyGILState_STATE st = PyGILState_Ensure();
    void* q = PyObject_Realloc(p, size);
    PyGILState_Release(st);
    return q;
}

void* bench_malloc(size_t size) {
    if (__builtin_expect(threads_mode, 0)) return gil_malloc(size);
    return PyObject_Malloc(size);
}
void bench_free(void* p) {
    if (__builtin_expect(threads_mode, 0)) { gil_free(p); return; }
    PyObject_Free(p);
}
void* bench_realloc(void* p, size_t size) {
    if (__builtin_expect(threads_mode, 0)) return gil_realloc(p, size);
    return PyObject_Realloc(p, size);
}

int bench_supports(const char* workload) { (void)workload; return 1; }

int bench_threads_mode(int on) {
    if (on && !threads_mode) {
        saved = PyEval_SaveThread();
        threads_mode = 1;
    } else if (!on && threads_mode) {
        threads_mode = 0;
        PyEval_RestoreThread(saved);
    }
    return 10;
}
