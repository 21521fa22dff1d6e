/* phn_gc_layout.h - the object, type and GC-header layouts the library's C files read,
 * private.
 *
 * They are the ones of Core/Objects/ObjectLayout.cs, TypeObject.cs and ObjectState.cs
 * (tests/PyHeapNative.Tests/AbiTests.cs compares them): the GC header is the two words
 * before the object; gc_next 0 = not tracked, bit 0 marks the collector's unreachable list;
 * gc_prev bit 0 = finalized, bit 1 = in the set being collected, bits 2.. the previous node
 * or, during a collection, gc_refs. A weak-referenceable object's weak list is the first
 * word of its block (pre_size bytes before the object). */
#ifndef PHN_GC_LAYOUT_H
#define PHN_GC_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define PHN_IMPL __attribute__((visibility("hidden")))

typedef struct gc_head { uintptr_t next, prev; } gc_head;
typedef struct object { intptr_t refcnt; const struct type_object* type; } object;

/* TypeObject */
typedef struct type_object {
    uint32_t magic;
    uint32_t flags;                 /* TYPE_* */
    intptr_t basic_size;
    intptr_t item_size;
    intptr_t pre_size;              /* bytes of headers before the object */
    const uint32_t* ref_offsets;
    int32_t ref_count;
    const char* name;
    void* traverse;
    void* clear;
    void* finalize;
    void* del;
    void (*dealloc)(object*);       /* the type's dealloc callback, or NULL */
} type_object;

enum { TYPE_HAVE_GC = 1u << 0, TYPE_WEAKREFABLE = 1u << 1 };

/* ObjectState: the words C and the managed side both use, all under the GIL but the owner. */
typedef struct object_state {
    uintptr_t gil_owner;            /* pthread_self of the GIL's holder, 0 when free (Gil) */
    object* delete_later;           /* the trashcan's deposited objects (Objects) */
    int32_t delete_nesting;         /* deallocs running, one inside the other (Objects) */
    int32_t count0;                 /* generation 0's count (Generations) */
    gc_head* generation0;           /* generation 0's list head (Generations) */
    int32_t threshold0;             /* Generations.Threshold0 */
    int32_t enabled;                /* automatic collection on (Generations.Enabled) */
} object_state;

enum { TRASHCAN_DEPTH = 50 };       /* Objects.TrashcanDepth, PHN_TRASHCAN_DEPTH */
#define TYPE_MAGIC 0x544e4850u      /* TypeObject.MagicValue, "PHNT" */

enum { NEXT_UNREACHABLE = 1, PREV_FINALIZED = 1, PREV_COLLECTING = 2, PREV_FLAGS = 3, PREV_SHIFT = 2 };

static inline int is_gc(const object* op) { return (op->type->flags & TYPE_HAVE_GC) != 0; }
static inline gc_head* as_gc(object* op) { return (gc_head*)op - 1; }

#endif /* PHN_GC_LAYOUT_H */
