/* gc_fixture.h - the object types of spec-gc.md §16.0 for the collector's C tests
 * (include after testhelper.h and phn_test_common.h).
 *
 *   Node          GC type described by callbacks, NODE_SLOTS owned slots; traverse visits
 *                 each non-NULL slot; clear PHN_CLEARs them; dealloc in CPython's order
 *                 (finalizer from dealloc, untrack, clear weakrefs, legacy del, slots, free)
 *   variants      made by node_type(name, NV_* bits): NV_WEAK (weak-referenceable),
 *                 NV_FIN (finalize performing node->action), NV_DEL (legacy del performing
 *                 node->action), NV_NOCLEAR (clear NULL), NV_HIDDEN (traverse skips slot 0),
 *                 NV_BAD (traverse visits slot 0 twice), NV_NOGC (no GC header; NGF / Holder)
 *   LNode         the same shape described by its reference layout only (no callbacks)
 *   Leaf          non-GC type without references
 *
 * Every callback appends (event, node id) to a log and bumps a per-event counter; dealloc
 * also records its nesting depth. Finalizer / del actions: ACT_NONE, ACT_RESURRECT (store
 * a new reference to self in the global root G), ACT_SUICIDE (clear own slots), ACT_STORE
 * (store a new reference to node->target in G), ACT_COLLECT (call phn_gc_collect(2) and
 * record its result), ACT_FAIL (return an error), ACT_RESURRECT_N (resurrect while
 * node->budget > 0, decrementing it). The root G is an array of GROOT_MAX slots. */
#ifndef PHN_GC_FIXTURE_H
#define PHN_GC_FIXTURE_H

#include <pyheapnative.h>
#include <string.h>

#define NODE_SLOTS 4

enum { ACT_NONE, ACT_RESURRECT, ACT_SUICIDE, ACT_STORE, ACT_COLLECT, ACT_FAIL, ACT_RESURRECT_N };

enum {
    NV_WEAK = 1, NV_FIN = 2, NV_DEL = 4, NV_NOCLEAR = 8, NV_HIDDEN = 16, NV_BAD = 32, NV_NOGC = 64
};

typedef struct Node {
    phn_object ob;
    phn_object* slot[NODE_SLOTS];
    int64_t id;
    int32_t action;
    int32_t budget;
    phn_object* target;   /* borrowed, for ACT_STORE */
} Node;

enum { EV_TRAVERSE, EV_CLEAR, EV_FINALIZE, EV_DEL, EV_DEALLOC, EV_FREE, EV_WEAKCB, EV_GCCB, EV__COUNT };

#define GLOG_MAX 4096
#define GROOT_MAX 64

typedef struct { int event; int64_t id; } gevent;

static gevent glog[GLOG_MAX];
static int glog_len;
static long gcount[EV__COUNT];
static int dealloc_depth, dealloc_max_depth;
static phn_object* G[GROOT_MAX];
static int64_t next_node_id = 1;
static int64_t last_collect_in_callback = -12345;

static PHN_TU void glog_add(int event, int64_t id) {
    gcount[event]++;
    if (glog_len < GLOG_MAX) { glog[glog_len].event = event; glog[glog_len].id = id; glog_len++; }
}
static PHN_TU void glog_reset(void) {
    glog_len = 0;
    memset(gcount, 0, sizeof gcount);
    dealloc_depth = dealloc_max_depth = 0;
}
/* index of the first logged (event, id) (id -1: any id), or -1 */
static PHN_TU int glog_find(int event, int64_t id) {
    for (int i = 0; i < glog_len; i++)
        if (glog[i].event == event && (id < 0 || glog[i].id == id)) return i;
    return -1;
}
static PHN_TU int glog_count(int event, int64_t id) {
    int n = 0;
    for (int i = 0; i < glog_len; i++)
        if (glog[i].event == event && (id < 0 || glog[i].id == id)) n++;
    return n;
}
static PHN_TU void groot_put(phn_object* o) {   /* takes a new reference */
    for (int i = 0; i < GROOT_MAX; i++)
        if (G[i] == NULL) { PHN_INCREF(o); G[i] = o; return; }
    abort();
}
static PHN_TU void groot_clear(void) {
    for (int i = 0; i < GROOT_MAX; i++) PHN_CLEAR(G[i]);
}
static PHN_TU int groot_holds(const phn_object* o) {
    for (int i = 0; i < GROOT_MAX; i++)
        if (G[i] == o) return 1;
    return 0;
}

/* the type of each variant, for the callbacks */
typedef struct { phn_type* type; unsigned variant; } node_type_entry;
static node_type_entry node_types[64];
static int node_type_count;

static PHN_TU unsigned node_variant(const phn_object* o) {
    for (int i = 0; i < node_type_count; i++)
        if (node_types[i].type == o->ob_type) return node_types[i].variant;
    return 0;
}

static int32_t PHN_CALL node_traverse(phn_object* self, phn_visitproc visit, void* arg) {
    Node* n = (Node*)self;
    unsigned v = node_variant(self);
    glog_add(EV_TRAVERSE, n->id);
    for (int i = 0; i < NODE_SLOTS; i++) {
        if (i == 0 && (v & NV_HIDDEN)) continue;
        PHN_VISIT(n->slot[i]);
        if (i == 0 && (v & NV_BAD)) PHN_VISIT(n->slot[0]);
    }
    return 0;
}

static int32_t PHN_CALL node_clear(phn_object* self) {
    Node* n = (Node*)self;
    glog_add(EV_CLEAR, n->id);
    for (int i = 0; i < NODE_SLOTS; i++) PHN_CLEAR(n->slot[i]);
    return 0;
}

static int32_t node_act(Node* n) {
    switch (n->action) {
    case ACT_RESURRECT: groot_put(&n->ob); break;
    case ACT_SUICIDE: for (int i = 0; i < NODE_SLOTS; i++) PHN_CLEAR(n->slot[i]); break;
    case ACT_STORE: if (n->target) groot_put(n->target); break;
    case ACT_COLLECT: last_collect_in_callback = phn_gc_collect(2); break;
    case ACT_FAIL: return -1;
    case ACT_RESURRECT_N: if (n->budget > 0) { n->budget--; groot_put(&n->ob); } break;
    default: break;
    }
    return 0;
}

static int32_t PHN_CALL node_finalize(phn_object* self) {
    glog_add(EV_FINALIZE, ((Node*)self)->id);
    return node_act((Node*)self);
}

static int32_t PHN_CALL node_del(phn_object* self) {
    glog_add(EV_DEL, ((Node*)self)->id);
    return node_act((Node*)self);
}

/* CPython's subtype_dealloc order (spec-gc §5.5). */
static void PHN_CALL node_dealloc(phn_object* self) {
    Node* n = (Node*)self;
    unsigned v = node_variant(self);
    if (++dealloc_depth > dealloc_max_depth) dealloc_max_depth = dealloc_depth;
    glog_add(EV_DEALLOC, n->id);
    if ((v & NV_FIN) && phn_object_call_finalizer_from_dealloc(self) < 0) {
        dealloc_depth--;
        return;   /* resurrected */
    }
    if (!(v & NV_NOGC)) phn_gc_untrack(self);
    if (v & NV_WEAK) phn_object_clear_weakrefs(self);
    if (v & NV_DEL) {
        if (!(v & NV_NOGC)) phn_gc_track(self);
        self->ob_refcnt = 1;
        node_del(self);
        if (--self->ob_refcnt != 0) {   /* resurrected by del */
            dealloc_depth--;
            return;
        }
        if (!(v & NV_NOGC)) phn_gc_untrack(self);
    }
    if ((v & (NV_FIN | NV_DEL)) && (v & NV_WEAK)) phn_object_clear_weakrefs_no_callbacks(self);
    for (int i = 0; i < NODE_SLOTS; i++) PHN_CLEAR(n->slot[i]);
    glog_add(EV_FREE, n->id);
    phn_object_free(self);
    dealloc_depth--;
}

/* A Node type of the given variant with these clear / finalize / dealloc callbacks (clear and
 * finalize only where the NV_* bits ask for them); registered for node_variant. */
static PHN_TU phn_type* node_type_with(const char* name, unsigned variant, phn_inquiry clear,
                                       phn_finalizer finalize, phn_destructor dealloc) {
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = (uint32_t)sizeof spec;
    spec.name = name;
    spec.flags = ((variant & NV_NOGC) ? 0u : PHN_TPFLAGS_HAVE_GC) | ((variant & NV_WEAK) ? PHN_TPFLAGS_WEAKREFABLE : 0u);
    spec.basicsize = (int64_t)sizeof(Node);
    spec.traverse = node_traverse;
    spec.clear = (variant & NV_NOCLEAR) ? NULL : clear;
    spec.finalize = (variant & NV_FIN) ? finalize : NULL;
    spec.del = (variant & NV_DEL) ? node_del : NULL;
    spec.dealloc = dealloc;
    phn_type* t = phn_type_new(&spec);
    if (t == NULL) { fprintf(stderr, "node_type(%s): %s\n", name, phn_last_error_message()); abort(); }
    if (node_type_count >= (int)(sizeof node_types / sizeof node_types[0])) abort();
    node_types[node_type_count].type = t;
    node_types[node_type_count].variant = variant;
    node_type_count++;
    return t;
}

/* A Node type of the given variant (callbacks as the NV_* bits say). */
static PHN_TU phn_type* node_type(const char* name, unsigned variant) {
    return node_type_with(name, variant, node_clear, node_finalize, node_dealloc);
}

/* LNode: the same struct described by its reference layout only. */
static PHN_TU phn_type* layout_node_type(const char* name, uint32_t flags) {
    static const uint32_t offsets[NODE_SLOTS] = {
        offsetof(Node, slot[0]), offsetof(Node, slot[1]), offsetof(Node, slot[2]), offsetof(Node, slot[3])
    };
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = (uint32_t)sizeof spec;
    spec.name = name;
    spec.flags = flags;
    spec.basicsize = (int64_t)sizeof(Node);
    spec.ref_offsets = offsets;
    spec.ref_count = NODE_SLOTS;
    phn_type* t = phn_type_new(&spec);
    if (t == NULL) { fprintf(stderr, "layout_node_type(%s): %s\n", name, phn_last_error_message()); abort(); }
    return t;
}

/* Leaf: non-GC, no references. */
static PHN_TU phn_type* leaf_type(void) {
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = (uint32_t)sizeof spec;
    spec.name = "Leaf";
    spec.basicsize = (int64_t)sizeof(Node);
    phn_type* t = phn_type_new(&spec);
    if (t == NULL) abort();
    return t;
}

/* A new node with a fresh id (tracked when its type is GC). */
static PHN_TU Node* new_node(phn_type* t) {
    Node* n = (Node*)phn_object_new(t);
    if (n == NULL) { fprintf(stderr, "new_node: %s\n", phn_last_error_message()); abort(); }
    n->id = next_node_id++;
    return n;
}

/* Store a new reference to value in node->slot[i] (releasing the old one). */
static PHN_TU void node_set(Node* n, int i, void* value) {
    phn_object* v = (phn_object*)value;
    PHN_XINCREF(v);
    PHN_XSETREF(n->slot[i], v);
}

/* The standard start of a scenario: automatic collection off, a full collection, an empty
 * gc.garbage, logs reset, debug flags 0. */
static PHN_TU void gc_scenario_start(void) {
    phn_gc_disable();
    phn_gc_set_debug(0);
    phn_gc_collect(2);
    phn_gc_garbage_clear();
    groot_clear();
    phn_gc_collect(2);
    phn_gc_garbage_clear();
    glog_reset();
}

/* 1 if op is among the objects of phn_gc_get_objects(generation) */
static PHN_TU int gc_in_generation(const void* op, int32_t generation) {
    int64_t n = phn_gc_get_objects(generation, NULL, 0);
    if (n < 0) return 0;
    phn_object** all = (phn_object**)malloc((size_t)(n + 1) * sizeof *all);
    int64_t got = phn_gc_get_objects(generation, all, n + 1);
    int found = 0;
    for (int64_t i = 0; i < got && i <= n; i++)
        if (all[i] == op) found = 1;
    free(all);
    return found;
}

static PHN_TU int gc_count_is(int32_t c0, int32_t c1, int32_t c2) {
    int32_t c[3] = { -1, -1, -1 };
    phn_gc_get_count(c);
    return c[0] == c0 && c[1] == c1 && c[2] == c2;
}

static PHN_TU int64_t gc_stat(int32_t generation, int field) {   /* 0 collections, 1 collected, 2 uncollectable */
    phn_gc_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = (uint32_t)sizeof s;
    phn_gc_get_stats(generation, &s);
    return field == 0 ? s.collections : field == 1 ? s.collected : s.uncollectable;
}

#endif /* PHN_GC_FIXTURE_H */
