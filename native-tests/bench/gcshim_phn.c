/* gcshim_phn.c - PyHeapNative's cyclic collector (phn_gc_collect(2)).
 *
 * A node is a variable-size GC object, list-like: a phn_varobject header and then ob_size
 * items, each a phn_object* (a node of the ring or of the pairs has 1 item, one of the
 * random graph 4; the root has one per component). The type is described in one of two ways:
 *
 *   phn-layout     (default) by its reference layout: PHN_TPFLAGS_ITEMS_ARE_REFS, no
 *                  callbacks; the library traverses, clears and deallocates the nodes itself;
 *   phn-callback   (-DGCB_CALLBACKS) by C callbacks following phn_object.h's contracts, as a
 *                  C extension type would be written for CPython: traverse visits the items
 *                  (PHN_VISIT), clear PHN_CLEARs them, dealloc untracks, PHN_CLEARs the items
 *                  and calls phn_object_free (and counts itself, to check the freeing).
 *
 * Linked by run.sh against libpyheapnative.so, or against libpyheapnative.a for the
 * "-static" variants; GCB_NAME carries the name. */
#include "gcshim.h"

#include <pyheapnative.h>
#include <stdio.h>
#include <string.h>

#ifndef GCB_NAME
#ifdef GCB_CALLBACKS
#define GCB_NAME "phn-callback"
#else
#define GCB_NAME "phn-layout"
#endif
#endif

static phn_type* node_type;

static inline phn_object** items(phn_object* op) { return (phn_object**)((char*)op + sizeof(phn_varobject)); }

#ifdef GCB_CALLBACKS
static int64_t deallocs;

static int32_t PHN_CALL node_traverse(phn_object* self, phn_visitproc visit, void* arg) {
    phn_object** it = items(self);
    intptr_t n = PHN_SIZE(self);
    for (intptr_t i = 0; i < n; i++) PHN_VISIT(it[i]);
    return 0;
}

static int32_t PHN_CALL node_clear(phn_object* self) {
    phn_object** it = items(self);
    intptr_t n = PHN_SIZE(self);
    for (intptr_t i = 0; i < n; i++) PHN_CLEAR(it[i]);
    return 0;
}

static void PHN_CALL node_dealloc(phn_object* self) {
    phn_gc_untrack(self);
    phn_object** it = items(self);
    intptr_t n = PHN_SIZE(self);
    for (intptr_t i = 0; i < n; i++) PHN_CLEAR(it[i]);
    phn_object_free(self);
    deallocs++;
}
#endif

const char* gcb_name(void) { return GCB_NAME; }

int gcb_init(void) {
    int32_t rc = phn_init();
    if (rc != PHN_OK) {
        fprintf(stderr, "%s: phn_init failed: %d %s\n", GCB_NAME, (int)rc, phn_last_error_message());
        return 1;
    }
    /* Held for the whole process, as the main thread holds CPython's GIL after Py_Initialize. */
    phn_gil_ensure();
    phn_gc_disable();
    if (phn_gc_is_enabled() != 0) {
        fprintf(stderr, "%s: phn_gc_disable did not disable automatic collection\n", GCB_NAME);
        return 1;
    }
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.basicsize = (int64_t)sizeof(phn_varobject);
    spec.itemsize = (int64_t)sizeof(phn_object*);
#ifdef GCB_CALLBACKS
    spec.name = "CallbackNode";
    spec.flags = PHN_TPFLAGS_HAVE_GC;
    spec.traverse = node_traverse;
    spec.clear = node_clear;
    spec.dealloc = node_dealloc;
#else
    spec.name = "LayoutNode";
    spec.flags = PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_ITEMS_ARE_REFS;
#endif
    node_type = phn_type_new(&spec);
    if (node_type == NULL) {
        fprintf(stderr, "%s: phn_type_new failed: %s\n", GCB_NAME, phn_last_error_message());
        return 1;
    }
    return 0;
}

void* gcb_node_new(size_t nrefs) {
    phn_object* op = phn_object_new_var(node_type, (int64_t)nrefs);
    if (op == NULL) fprintf(stderr, "%s: phn_object_new_var failed: %s\n", GCB_NAME, phn_last_error_message());
    return op;
}

int gcb_node_set(void* node, size_t index, void* target) {
    phn_object* op = node;
    if ((intptr_t)index >= PHN_SIZE(op) || items(op)[index] != NULL) {
        fprintf(stderr, "%s: reference %zu set twice or out of range\n", GCB_NAME, index);
        return -1;
    }
    items(op)[index] = phn_new_ref((phn_object*)target);
    return 0;
}

void gcb_release(void* obj) { PHN_DECREF(obj); }

int64_t gcb_collect(void) {
    int64_t n = phn_gc_collect(2);
    if (n < 0) fprintf(stderr, "%s: phn_gc_collect(2) failed: %lld %s\n", GCB_NAME, (long long)n, phn_last_error_message());
    return n;
}

int64_t gcb_allocated_blocks(void) {
    phn_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    if (phn_get_stats(&st) != PHN_OK) return -1;
    return (int64_t)st.allocated_blocks;
}

int64_t gcb_tracked(void) { return phn_gc_get_objects(-1, NULL, 0); }

int64_t gcb_deallocs(void) {
#ifdef GCB_CALLBACKS
    return deallocs;
#else
    return -1;
#endif
}

/* The graph's nodes are all freed; a few blocks of the library's own (buffers it keeps)
 * may remain. A leak of the graph would be 100k blocks or more. */
int64_t gcb_block_slack(void) { return 16; }
