/* phn_gc_layout.h - the object and GC-header layouts the library's C files read, private.
 *
 * They are the ones of Core/Objects/ObjectLayout.cs and TypeObject.cs (kept in step by the
 * collector's tests): the GC header is the two words before the object; gc_next 0 = not
 * tracked, bit 0 marks the collector's unreachable list; gc_prev bit 0 = finalized, bit 1 =
 * in the set being collected, bits 2.. the previous node or, during a collection, gc_refs;
 * a type's flags are the uint32 at offset 4, bit 0 = HAVE_GC. */
#ifndef PHN_GC_LAYOUT_H
#define PHN_GC_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define PHN_IMPL __attribute__((visibility("hidden")))

typedef struct gc_head { uintptr_t next, prev; } gc_head;
typedef struct object { intptr_t refcnt; const void* type; } object;

enum { NEXT_UNREACHABLE = 1, PREV_FINALIZED = 1, PREV_COLLECTING = 2, PREV_FLAGS = 3, PREV_SHIFT = 2 };

static inline int is_gc(const object* op) { return (*(const uint32_t*)((const char*)op->type + 4) & 1u) != 0; }
static inline gc_head* as_gc(object* op) { return (gc_head*)op - 1; }

#endif /* PHN_GC_LAYOUT_H */
