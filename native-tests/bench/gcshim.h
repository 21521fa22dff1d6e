/* gcshim.h - the one API every collector under comparison is reached through (gcbench.c).
 *
 * gcbench.c builds the object graphs and times the collections through these functions
 * only; gcshim_cpython.c implements them with CPython 3.11's lists and PyGC_Collect,
 * gcshim_phn.c with PyHeapNative's objects and phn_gc_collect (compiled twice: a type
 * described by its reference layout, and with -DGCB_CALLBACKS a type described by
 * traverse / clear / dealloc callbacks). As in shim.h, the shim is its own translation
 * unit: every collector pays the same C call per operation.
 *
 * A "node" is a list-like container of strong references: a CPython list (PyList_Append)
 * or a PyHeapNative variable-size GC object whose items are references.
 */
#ifndef PHN_BENCH_GCSHIM_H
#define PHN_BENCH_GCSHIM_H

#include <stddef.h>
#include <stdint.h>

/* Short name of the collector, as it appears in the results ("cpython", "phn-layout", ...). */
const char* gcb_name(void);

/* Start the runtime (Py_Initialize / phn_init), hold its global lock for the whole process,
 * and switch automatic collection off (gc.disable / phn_gc_disable): nothing is collected
 * while the graph is built. Returns 0, or non-zero with a message on stderr. */
int gcb_init(void);

/* A new, empty node with room for nrefs references (the caller owns the one reference it
 * returns). NULL on failure. */
void* gcb_node_new(size_t nrefs);

/* Store a new strong reference to target as reference number index of node (indices are
 * filled in order 0, 1, 2 ... up to nrefs - 1; the target's count is incremented).
 * Returns 0, or non-zero on failure. */
int gcb_node_set(void* node, size_t index, void* target);

/* Release one reference (Py_DECREF / PHN_DECREF). */
void gcb_release(void* obj);

/* A full collection (all generations) even though automatic collection is off; returns
 * the number of unreachable objects found, as gc.collect() does, or a negative value on
 * error. */
int64_t gcb_collect(void);

/* Live blocks of the runtime's object allocator (sys.getallocatedblocks()), to check that
 * the garbage was freed; -1 if unknown. */
int64_t gcb_allocated_blocks(void);

/* Objects tracked by the collector outside any frozen / permanent generation, or -1 if the
 * shim cannot tell cheaply. */
int64_t gcb_tracked(void);

/* Nodes deallocated so far (counted by a dealloc callback), or -1 if the shim has none. */
int64_t gcb_deallocs(void);

/* How many blocks gcb_allocated_blocks may stay above its value before the graph was built
 * once the garbage is collected (free lists, caches). */
int64_t gcb_block_slack(void);

#endif /* PHN_BENCH_GCSHIM_H */
