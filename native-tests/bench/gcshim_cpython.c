/* gcshim_cpython.c - CPython 3.11's cyclic collector, from Debian's libpython3.11
 * (python3.11-config --embed), after Py_Initialize. Nodes are lists built with
 * PyList_New(0) / PyList_Append (an append over-allocates, as in Python code: a list of 1
 * or 4 items gets an items array of 4 pointers).
 *
 * Before the graph is built, gc.freeze() moves the interpreter's own tracked objects
 * (modules, functions, dicts of Py_Initialize: tens of thousands) into the permanent
 * generation, which no collection examines: the collections then see the benchmark's
 * graph only, as PyHeapNative's do. Automatic collection is off (PyGC_Disable) while
 * building; PyGC_Collect returns 0 at once when it is off (3.11's documented semantics),
 * so gcb_collect switches it on around the call (PyGC_Enable / PyGC_Disable, two flag
 * stores; nothing is allocated in between, so nothing else can start a collection). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "gcshim.h"

/* sys.getallocatedblocks(): exported by libpython, declared in an internal header. */
PyAPI_FUNC(Py_ssize_t) _Py_GetAllocatedBlocks(void);

const char* gcb_name(void) { return "cpython"; }

int gcb_init(void) {
    Py_Initialize();
    if (!Py_IsInitialized()) {
        fprintf(stderr, "cpython: Py_Initialize failed\n");
        return 1;
    }
    PyObject* gc = PyImport_ImportModule("gc");
    if (gc == NULL) {
        PyErr_Print();
        return 1;
    }
    PyObject* r = PyObject_CallMethod(gc, "collect", NULL);
    Py_XDECREF(r);
    if (r != NULL) {
        r = PyObject_CallMethod(gc, "freeze", NULL);
        Py_XDECREF(r);
    }
    Py_DECREF(gc);
    if (r == NULL) {
        PyErr_Print();
        return 1;
    }
    PyGC_Disable();
    return 0;
}

void* gcb_node_new(size_t nrefs) {
    (void)nrefs;
    return PyList_New(0);
}

int gcb_node_set(void* node, size_t index, void* target) {
    if ((size_t)PyList_GET_SIZE((PyObject*)node) != index) {
        fprintf(stderr, "cpython: references must be set in order\n");
        return -1;
    }
    return PyList_Append((PyObject*)node, (PyObject*)target);
}

void gcb_release(void* obj) { Py_DECREF((PyObject*)obj); }

int64_t gcb_collect(void) {
    PyGC_Enable();
    Py_ssize_t n = PyGC_Collect();
    PyGC_Disable();
    if (PyErr_Occurred()) {
        PyErr_Print();
        return -1;
    }
    return (int64_t)n;
}

int64_t gcb_allocated_blocks(void) { return (int64_t)_Py_GetAllocatedBlocks(); }

int64_t gcb_tracked(void) { return -1; }

int64_t gcb_deallocs(void) { return -1; }

/* A full collection clears the free lists, but a few blocks come and go (interned strings,
 * caches): a graph that leaked would be 100k blocks or more. */
int64_t gcb_block_slack(void) { return 64; }
