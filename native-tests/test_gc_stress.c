/* test_gc_stress.c - the collector under random, re-entrant load, checked against a model;
 * fatal diagnostics of freed objects and negative counts in debug mode (issue 4, item 8: "A
 * callback that fails or re-enters (allocates, decrefs, collects, resurrects) never crashes
 * the process or corrupts the lists. In debug mode, a refcount going negative and a traverse
 * reaching a freed object are fatal with CPython's messages").
 *
 * 1. Model-checked random stress (spec-gc §5, §7, §10, §13). A seeded PRNG drives 20000
 *    steps over a pool of objects of nine kinds: callback Nodes (plain, finalizer,
 *    weak-referenceable, both), layout-described nodes (plain, with a finalizer), a layout
 *    var type with PHN_TPFLAGS_ITEMS_ARE_REFS, non-GC Leafs, and weak references (with and
 *    without callback, themselves linkable). Operations: create, link a slot, clear a slot,
 *    drop / add a root, create a weak reference, collect(0/1/2), freeze / unfreeze, chains of
 *    60-160 objects (trashcan), rings of 1-5 objects with one root, low thresholds with
 *    automatic collection for stretches; the pool's size follows a tide (150 to 1500).
 *    The model keeps the edges and the roots. Every object's death is seen by a hook on the
 *    OBJ domain (the free of its block) and, for the callback types, by their dealloc.
 *    After EVERY step: phn_validate() == PHN_OK; no object reachable from the roots is freed;
 *    every live object's count equals roots + references from live objects, its slots are
 *    what the model says, it is tracked (GC) and finalized iff its finalizer ran; weak
 *    references are dead iff their referent is, their callbacks ran exactly as §7.5 / §13.4
 *    say; failing callbacks were reported through the error handler exactly once each.
 *    After each collect(2): everything unreachable before it is freed (exactly once), the
 *    return value and the stats agree (exactly, for the collections whose callbacks do not
 *    re-enter). Callbacks (finalizers, clear, weak-reference and gc callbacks) re-enter at
 *    random: allocate and drop temporary objects (cycles too), create weak references, call
 *    phn_gc_collect (0 inside a collection), drop roots, fail.
 *    A separate, smaller phase resurrects: a finalizer stores a new reference to its object
 *    in a root it records; after each collect(2) what the new roots reach survives, the rest
 *    of the garbage is freed, each finalizer ran once, weak references follow §7.5's rules
 *    for resurrected objects, and the return value is exact.
 * 2. Fault cases with PYHEAPNATIVE_ALLOCATOR=debug, in child processes: a traverse reaching a
 *    freed object (fatal "visit_decref: Assertion "!_PyObject_IsFreed(op)" failed" with the
 *    object dump), phn_gc_track of an object whose traverse reaches a freed object (fatal
 *    "PyObject_GC_Track() object is not valid"), a negative count through phn_decref
 *    ("_Py_NegativeRefcount: Assertion failed: object has negative ref count"), and the
 *    three with a fatal handler that returns (abandoned, lists valid, collected / tracked /
 *    freed normally once fixed).
 *    The same stress runs again in a child with the debug hooks above the free hook
 *    (phn_setup_debug_hooks): freed memory poisoned, and the collector's freed-object checks
 *    on, which must never fire on a valid heap.
 * 3. Deterministic re-entrant callbacks: a clear callback, a weak-reference callback (by the
 *    collector and by reference count) and a gc callback that allocate, decref, collect,
 *    create weak references and fail: exact return values, frees and reports.
 *
 * The seed is printed at the start and with every failure. Environment:
 *   PHN_GC_STRESS_SEED=<n>    rerun a seed (both the stress and its debug-mode child)
 *   PHN_GC_STRESS_STEPS=<n>   n steps in the main phase, n / 5 in the resurrection phase
 *   PHN_GC_STRESS_TRACE=1     log every operation, callback and free to stderr
 * "test_gc_stress --stress-debug" runs the debug-mode child alone (same variables).
 * A failing step stops its phase; the first failures are printed with the seed and step. */
#include <pyheapnative.h>

#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testhelper.h"
#include "phn_test_common.h"
#include "gc_fixture.h"

#define O(x) ((phn_object*)(x))

/* ================================================================== PRNG */

static uint64_t seed, rng;
static uint64_t rnd(void) {   /* splitmix64 */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int chance(int n) { return rnd() % (uint64_t)n == 0; }   /* 1 in n */

/* ================================================================== error handler */

static long err_callback, err_einval, err_other;
static char err_last[1024];
static char err_other_msg[1024];

static void PHN_CALL on_error(void* ctx, int32_t code, const char* message) {
    (void)ctx;
    if (code == PHN_ECALLBACK) err_callback++;
    else if (code == PHN_EINVAL) err_einval++;
    else {
        err_other++;
        snprintf(err_other_msg, sizeof err_other_msg, "%d %s", code, message ? message : "(null)");
    }
    snprintf(err_last, sizeof err_last, "%s", message ? message : "(null)");
}

/* ================================================================== stress: types */

#define SN_SLOTS 4
#define MAXSLOTS 6
#define MAXOBJ (1 << 19)
#define MAXROOTS (1 << 17)
#define MAXSIDE (1 << 17)

typedef struct SNode {           /* callback nodes and layout nodes */
    phn_object ob;
    phn_object* slot[SN_SLOTS];
    int64_t id;
    int32_t in_dealloc;
    int32_t pad_;
} SNode;

typedef struct SVar {            /* layout var type; items (phn_object*) follow */
    phn_varobject ob;
    int64_t id;
} SVar;

typedef struct SLeaf {
    phn_object ob;
    int64_t id;
} SLeaf;

enum { K_NONE, K_NODE, K_FNODE, K_WNODE, K_FWNODE, K_LNODE, K_LFNODE, K_VAR, K_LEAF, K_WREF, K__COUNT };
static const char* const KIND_NAME[K__COUNT] = {
    "none", "SNode", "SFNode", "SWNode", "SFWNode", "SLNode", "SLFNode", "SVar", "SLeaf", "weakref"
};
static phn_type* KT[K__COUNT];

static int is_cbnode(int k) { return k >= K_NODE && k <= K_FWNODE; }
static int has_fin(int k) { return k == K_FNODE || k == K_FWNODE || k == K_LFNODE; }
static int is_weakable(int k) { return k == K_WNODE || k == K_FWNODE || k == K_LNODE || k == K_LFNODE || k == K_VAR; }
static int has_slots(int k) { return k >= K_NODE && k <= K_VAR; }
static int is_gc_kind(int k) { return k != K_LEAF && k != K_NONE; }
/* Bytes between the start of an object's OBJ block (as the free hook sees it) and the
 * object: the pre-header, plus the debug hooks' 16 leading bytes when they sit above the
 * hook (the --stress-debug child). */
static size_t dbg_extra;
static size_t pre_size(int k) {
    if (k == K_LEAF) return dbg_extra;
    return 16 + (is_weakable(k) ? 16 : 0) + dbg_extra;
}

/* ================================================================== stress: the model */

enum { PATH_NONE, PATH_GC, PATH_DEALLOC };

typedef struct oinfo {
    phn_object* p;
    uintptr_t block;          /* the OBJ block watched by the free hook */
    int8_t kind, temp, nslots, has_cb;
    int8_t frozen, resolved, w_cleared, on_cycle;
    int8_t on_stack, pad_[3];
    int32_t slot[MAXSLOTS];   /* model edges: target ids, 0 = NULL */
    int32_t roots;            /* references the test holds in roots[] */
    int32_t exp_rc;
    int32_t referent;         /* K_WREF: referent id */
    int32_t wr_next;          /* next model weakref to the same referent */
    int32_t wr_head;          /* referent: first model weakref to it */
    int32_t basic_wr;         /* referent: its callback-less weakref (model id) */
    int32_t cb_calls, cb_lo, cb_hi;
    int32_t frees;            /* frees of its block (free hook) */
    int32_t deallocs;         /* frees by the callback dealloc (callback kinds, Leaf) */
    int32_t finalizes;
    int32_t death_step;
    int32_t mark, gmark, mark2;
    int32_t tj_index, tj_low;
    int32_t must_die_step;    /* seen cleared as garbage inside a finalizer at this step */
} oinfo;

static oinfo* objs;
static int32_t nobjs = 1;                  /* id 0: "none" */
static int32_t roots[MAXROOTS];
static int nroots;
static int32_t* live;                       /* model ids not yet seen dead */
static int32_t nlive;
static int32_t* temps;                      /* temporary ids not yet seen dead */
static int32_t ntemps;
static int32_t* reach_list;                 /* reachable from the roots, after the last step */
static int32_t nreach;
static int32_t* work;                       /* BFS queue */
static int32_t reach_epoch = 1, g_epoch = 1, reach2_epoch = 1;

typedef struct side_wr {                    /* weak references created inside callbacks */
    phn_object* w;
    int32_t referent;
    int8_t has_cb, path, phase, resolved;
    int32_t step;
    int32_t calls, lo, hi;
} side_wr;
static side_wr* side;
static int32_t nside;

enum { PH_MAIN, PH_RES };
static int phase = PH_MAIN;
static int cur_step;
static int reenter_on;
static int reentry_depth;
static int no_root_drops;
static int in_gc, gc_gen;
static int64_t last_stop_collected = -1, last_stop_uncollectable = -1;
static int frozen, unfreeze_at;
static int trace_on;
#define TRACE(...) do { if (trace_on) fprintf(stderr, __VA_ARGS__); } while (0)
static long exp_callback_errors, exp_einval;
static int dealloc_depth_now, dealloc_depth_max;

/* coverage */
static long cov_fin_gc, cov_fin_dealloc, cov_clear, cov_wrcb, cov_sidecb, cov_gccb, cov_fail,
    cov_nested_in_gc, cov_nested_real, cov_root_drops, cov_temps, cov_side, cov_resurrect,
    cov_collect[3], cov_auto_stretch, cov_freeze, cov_chain, cov_quiet, cov_res_collect_with_res,
    cov_objects, cov_wrefs, cov_shared_hits, cov_bad_weakref, cov_rings;
static long long cov_auto_collections;

/* ---------------------------------------------------------------- failures */

enum {
    F_VALIDATE, F_REACH, F_REFCNT, F_SLOTS, F_DANGLING, F_TRACKED, F_FINALIZED, F_DEALLOC,
    F_GARBAGE, F_RETURN, F_STATS, F_WEAKREF, F_WRCB, F_ERRORS, F_NESTED, F_CALLBACK,
    F_FREEZE, F_END, F_ALLOC, F__COUNT
};
static const char* const F_NAME[F__COUNT] = {
    "phn_validate() == PHN_OK after every step",
    "no object reachable from the roots is freed",
    "every live object's count == roots + references from live objects",
    "every live object's slots are what the model says",
    "no live object refers to a freed object",
    "live GC objects tracked, Leafs not",
    "phn_gc_is_finalized == the finalizer ran",
    "each object freed once; callback dealloc == allocator free",
    "after collect(2): everything unreachable before it is freed",
    "collect() return value (exact when callbacks do not re-enter; >= the model's garbage)",
    "gc stats and gc-callback info agree with the return value",
    "weak references dead exactly when §7.5 / §13.4 say; shared callback-less ref",
    "weak-reference callbacks ran exactly as many times as the spec says; dead inside",
    "each failing callback reported once through the error handler, nothing else reported",
    "phn_gc_collect inside a collection returns 0; outside, >= 0",
    "callbacks see the spec's state (finalizer: slots intact, weakrefs; clear only in a collection)",
    "freeze / unfreeze counts",
    "at the end: every object freed exactly once, every finalizer ran once",
    "allocation / object creation",
};
static long fails[F__COUNT];
static long total_fails;
static int printed_fails;

static void sfail(int cat, const char* fmt, ...) {
    fails[cat]++;
    total_fails++;
    if (printed_fails++ < 25) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "\n  FAILURE [seed %llu, phase %s, step %d] %s: ", (unsigned long long)seed,
                phase == PH_MAIN ? "main" : "resurrection", cur_step, F_NAME[cat]);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
}

/* ---------------------------------------------------------------- the free hook */

#define WATCH_BITS 21
#define WATCH_SIZE (1u << WATCH_BITS)
static uintptr_t* wkeys;
static int32_t* wvals;
static phn_allocator obj_prev;

static uint32_t whash(uintptr_t b) { return (uint32_t)(((uint64_t)b * 0x9e3779b97f4a7c15ull) >> (64 - WATCH_BITS)); }

static void watch_add(uintptr_t b, int32_t id) {
    uint32_t h = whash(b);
    while (wkeys[h] != 0) {
        if (wkeys[h] == b) {
            sfail(F_ALLOC, "block %#lx of new object #%d is still watched for #%d (reused without a free?)",
                  (unsigned long)b, id, wvals[h]);
            wvals[h] = id;
            return;
        }
        h = (h + 1) & (WATCH_SIZE - 1);
    }
    wkeys[h] = b;
    wvals[h] = id;
}

static int32_t watch_take(uintptr_t b) {
    uint32_t i = whash(b);
    while (wkeys[i] != b) {
        if (wkeys[i] == 0) return 0;
        i = (i + 1) & (WATCH_SIZE - 1);
    }
    int32_t id = wvals[i];
    uint32_t j = i;
    for (;;) {   /* backward-shift deletion */
        j = (j + 1) & (WATCH_SIZE - 1);
        if (wkeys[j] == 0) break;
        uint32_t k = whash(wkeys[j]);
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
        wkeys[i] = wkeys[j];
        wvals[i] = wvals[j];
        i = j;
    }
    wkeys[i] = 0;
    return id;
}

static void* last_block;
static void* PHN_CALL hk_malloc(void* c, size_t n) { (void)c; return last_block = obj_prev.malloc(obj_prev.ctx, n); }
static void* PHN_CALL hk_calloc(void* c, size_t a, size_t b) { (void)c; return last_block = obj_prev.calloc(obj_prev.ctx, a, b); }
static void* PHN_CALL hk_realloc(void* c, void* p, size_t n) {
    (void)c;
    void* q = obj_prev.realloc(obj_prev.ctx, p, n);
    if (p != NULL && q != NULL && q != p) {
        int32_t id = watch_take((uintptr_t)p);
        if (id) watch_add((uintptr_t)q, id);
    }
    return q;
}
static void PHN_CALL hk_free(void* c, void* p) {
    (void)c;
    if (p != NULL) {
        int32_t id = watch_take((uintptr_t)p);
        if (id) {
            TRACE("  free #%d\n", id);
            objs[id].frees++;
            if (objs[id].death_step < 0) objs[id].death_step = cur_step;
        }
    }
    obj_prev.free(obj_prev.ctx, p);
}

/* ---------------------------------------------------------------- helpers */

static int kind_of_type(const phn_type* t) {
    for (int k = K_NODE; k <= K_LEAF; k++)
        if (KT[k] == t) return k;
    return K_NONE;
}

static phn_object** slot_ptr(int32_t id, int i) {
    oinfo* o = &objs[id];
    if (o->kind == K_VAR) return (phn_object**)((char*)o->p + sizeof(SVar)) + i;
    return &((SNode*)o->p)->slot[i];
}

static int alive(int32_t id) { return id > 0 && objs[id].frees == 0; }

static int32_t new_info(int kind, int temp) {
    if (nobjs >= MAXOBJ) {
        fprintf(stderr, "\n  test_gc_stress: out of object ids\n");
        abort();
    }
    int32_t id = nobjs++;
    oinfo* o = &objs[id];
    memset(o, 0, sizeof *o);
    o->kind = (int8_t)kind;
    o->temp = (int8_t)temp;
    o->death_step = -1;
    o->must_die_step = -1;
    return id;
}

static void roots_push(int32_t id) {   /* the caller gives the root a reference */
    if (nroots >= MAXROOTS) { fprintf(stderr, "\n  test_gc_stress: too many roots\n"); abort(); }
    roots[nroots++] = id;
    objs[id].roots++;
}

static int32_t roots_take(int idx) {   /* the caller owns the reference afterwards */
    int32_t id = roots[idx];
    roots[idx] = roots[--nroots];
    objs[id].roots--;
    return id;
}

static int reenter(int where, int32_t self);

/* ---------------------------------------------------------------- callbacks */

enum { W_FIN_GC, W_FIN_DEALLOC, W_CLEAR, W_WEAKCB, W_GCCB };

static int32_t PHN_CALL s_traverse(phn_object* self, phn_visitproc visit, void* arg) {
    SNode* n = (SNode*)self;
    for (int i = 0; i < SN_SLOTS; i++) PHN_VISIT(n->slot[i]);
    return 0;
}

static int32_t PHN_CALL s_clear(phn_object* self) {
    SNode* n = (SNode*)self;
    TRACE("  clear #%lld\n", (long long)n->id);
    cov_clear++;
    if (!in_gc) sfail(F_CALLBACK, "clear of #%lld outside a collection", (long long)n->id);
    for (int i = 0; i < SN_SLOTS; i++) PHN_CLEAR(n->slot[i]);
    return reenter(W_CLEAR, 0);
}

/* The finalizer's view (§7.6, §13.4, §13.5): its references intact; callback-less weak
 * references to it resolve; those with a callback are already dead when the collector
 * runs it. */
static void finalizer_checks(int32_t id, int path) {
    oinfo* o = &objs[id];
    if (o->temp) return;
    for (int i = 0; i < o->nslots; i++) {
        int32_t t = o->slot[i];
        phn_object* want = t ? objs[t].p : NULL;
        if (*slot_ptr(id, i) != want)
            sfail(F_CALLBACK, "finalizer of #%d (%s path): slot %d is %p, the model says #%d %p", id,
                  path == PATH_GC ? "gc" : "dealloc", i, (void*)*slot_ptr(id, i), t, (void*)want);
    }
    for (int32_t w = o->wr_head; w != 0; w = objs[w].wr_next) {
        if (!alive(w)) continue;
        int expect_dead = objs[w].w_cleared || (path == PATH_GC && objs[w].has_cb);
        phn_object* out = NULL;
        int32_t rc = phn_weakref_get_ref(objs[w].p, &out);
        int dead = rc == 0 && out == NULL;
        int resolves = rc == 1 && out == o->p;
        if (out) PHN_DECREF(out);
        if (dead && !expect_dead && ((path == PATH_DEALLOC && in_gc) || PHN_REFCNT(objs[w].p) <= 0)) {
            /* a weak reference that was itself garbage is cleared with the rest before any
               clear (bpo-38006, §7.5 step 2a): seen dead by an object dying by reference
               count while that collection deletes its garbage, or by a later collection of
               the same step while the trashcan still holds it (count 0). Either way it must
               be freed within this step */
            objs[w].must_die_step = cur_step;
            continue;
        }
        if (expect_dead ? !dead : !resolves)
            sfail(F_WEAKREF, "inside the finalizer of #%d (%s path): weakref #%d (%s callback) %s, expected %s", id,
                  path == PATH_GC ? "gc" : "dealloc", w, objs[w].has_cb ? "with" : "without",
                  dead ? "is dead" : resolves ? "resolves" : "is wrong", expect_dead ? "dead" : "resolving");
    }
}

static int32_t finalize_common(phn_object* self, int32_t id, int path) {
    oinfo* o = &objs[id];
    TRACE("  finalize #%d (%s path, in a collection %d, count %ld)\n", id, path == PATH_GC ? "collector's" : "dealloc", in_gc,
          (long)PHN_REFCNT(self));
    o->finalizes++;
    if (o->finalizes > 1) sfail(F_DEALLOC, "finalizer of #%d called %d times", id, o->finalizes);
    if (path == PATH_GC) {
        cov_fin_gc++;
        if (!in_gc) sfail(F_CALLBACK, "finalizer of #%d on the collector's path outside a collection", id);
        if (PHN_REFCNT(self) < 2)   /* a reference from the garbage + the collector's own (§7.6) */
            sfail(F_CALLBACK, "finalizer of #%d on the collector's path: count %ld, expected >= 2", id, (long)PHN_REFCNT(self));
    } else {
        cov_fin_dealloc++;
        if (PHN_REFCNT(self) != 1)
            sfail(F_CALLBACK, "finalizer of #%d from dealloc: count %ld, expected 1", id, (long)PHN_REFCNT(self));
    }
    finalizer_checks(id, path);
    return reenter(path == PATH_GC ? W_FIN_GC : W_FIN_DEALLOC, id);
}

static int32_t PHN_CALL s_finalize(phn_object* self) {
    SNode* n = (SNode*)self;
    int path = n->in_dealloc ? PATH_DEALLOC : PATH_GC;
    /* the collector marks the object finalized before it calls the finalizer, the dealloc
       path after (§5.3) */
    int fin = phn_gc_is_finalized(self);
    if (fin != (path == PATH_GC))
        sfail(F_CALLBACK, "finalizer of #%lld (%s path): phn_gc_is_finalized %d inside it", (long long)n->id,
              path == PATH_GC ? "gc" : "dealloc", fin);
    return finalize_common(self, (int32_t)n->id, path);
}

/* The layout type with a finalizer uses the library's default dealloc: the path is told by
 * the finalized mark (set before the call only by the collector, §5.3). */
static int32_t PHN_CALL lf_finalize(phn_object* self) {
    SNode* n = (SNode*)self;
    int path = phn_gc_is_finalized(self) ? PATH_GC : PATH_DEALLOC;
    return finalize_common(self, (int32_t)n->id, path);
}

/* CPython's subtype_dealloc order (§5.5). */
static void PHN_CALL s_dealloc(phn_object* self) {
    SNode* n = (SNode*)self;
    int k = kind_of_type(self->ob_type);
    if (++dealloc_depth_now > dealloc_depth_max) dealloc_depth_max = dealloc_depth_now;
    if (has_fin(k)) {
        n->in_dealloc = 1;
        int32_t r = phn_object_call_finalizer_from_dealloc(self);
        n->in_dealloc = 0;
        if (r < 0) {   /* resurrected */
            dealloc_depth_now--;
            return;
        }
    }
    phn_gc_untrack(self);
    if (is_weakable(k)) phn_object_clear_weakrefs(self);
    if (has_fin(k) && is_weakable(k)) phn_object_clear_weakrefs_no_callbacks(self);
    for (int i = 0; i < SN_SLOTS; i++) PHN_CLEAR(n->slot[i]);
    if (n->id > 0 && n->id < nobjs) objs[n->id].deallocs++;
    phn_object_free(self);
    dealloc_depth_now--;
}

static void PHN_CALL leaf_dealloc(phn_object* self) {
    SLeaf* l = (SLeaf*)self;
    if (l->id > 0 && l->id < nobjs) objs[l->id].deallocs++;
    phn_object_free(self);
}

/* A model weak reference's callback: it is dead inside (§13.4, §13.5). */
static int32_t PHN_CALL model_wr_cb(void* ctx, phn_object* w) {
    int32_t id = (int32_t)(intptr_t)ctx;
    TRACE("  callback of weakref #%d (in a collection %d)\n", id, in_gc);
    objs[id].cb_calls++;
    cov_wrcb++;
    if (w != objs[id].p) sfail(F_WRCB, "callback of weakref #%d called with %p, not %p", id, (void*)w, (void*)objs[id].p);
    phn_object* out = (phn_object*)w;
    int32_t rc = phn_weakref_get_ref(w, &out);
    if (rc != 0 || out != NULL) {
        sfail(F_WRCB, "weakref #%d resolves inside its own callback (rc %d)", id, rc);
        if (out) PHN_DECREF(out);
    }
    return reenter(W_WEAKCB, 0);
}

static int32_t PHN_CALL side_cb(void* ctx, phn_object* w) {
    int32_t i = (int32_t)(intptr_t)ctx;
    side[i].calls++;
    cov_sidecb++;
    if (w != side[i].w) sfail(F_WRCB, "callback of side weakref %d called with the wrong object", i);
    phn_object* out = NULL;
    int32_t rc = phn_weakref_get_ref(w, &out);
    if (rc != 0 || out != NULL) {
        sfail(F_WRCB, "side weakref %d resolves inside its own callback", i);
        if (out) PHN_DECREF(out);
    }
    if (reenter_on && chance(10)) {
        exp_callback_errors++;
        cov_fail++;
        return -3;
    }
    return 0;
}

static int32_t PHN_CALL gc_cb(void* ctx, int32_t ph, const phn_gc_info* info) {
    (void)ctx;
    cov_gccb++;
    TRACE("  gc callback: %s, generation %d\n", ph == PHN_GC_PHASE_START ? "start" : "stop", info->generation);
    if (ph == PHN_GC_PHASE_START) {
        if (in_gc) sfail(F_CALLBACK, "gc callback: start inside a collection");
        if (info->collected != 0 || info->uncollectable != 0)
            sfail(F_STATS, "gc callback start info: collected %lld, uncollectable %lld", (long long)info->collected,
                  (long long)info->uncollectable);
        in_gc = 1;
        gc_gen = info->generation;
    } else {
        if (!in_gc) sfail(F_CALLBACK, "gc callback: stop without start");
        if (info->generation != gc_gen)
            sfail(F_STATS, "gc callback: stop generation %d, start said %d", info->generation, gc_gen);
        last_stop_collected = info->collected;
        last_stop_uncollectable = info->uncollectable;
    }
    int32_t rc = reenter(W_GCCB, 0);
    if (ph == PHN_GC_PHASE_STOP) in_gc = 0;
    return rc;
}

/* ---------------------------------------------------------------- creating objects */

static int32_t make_object(int kind, int temp) {
    int32_t id = new_info(kind, temp);
    phn_object* p = NULL;
    int untracked_first = is_gc_kind(kind) && chance(4);
    switch (kind) {
    case K_NODE: case K_FNODE: case K_WNODE: case K_FWNODE: case K_LNODE: case K_LFNODE:
        objs[id].nslots = SN_SLOTS;
        if (untracked_first) {
            p = phn_gc_new(KT[kind]);
            if (p) {
                ((SNode*)p)->id = id;
                if (phn_gc_track(p) != PHN_OK) sfail(F_ALLOC, "phn_gc_track of a new %s", KIND_NAME[kind]);
            }
        } else {
            p = phn_object_new(KT[kind]);
            if (p) ((SNode*)p)->id = id;
        }
        break;
    case K_VAR: {
        int n = 1 + (int)(rnd() % MAXSLOTS);
        objs[id].nslots = (int8_t)n;
        if (untracked_first) {
            p = phn_gc_new_var(KT[kind], n);
            if (p) {
                ((SVar*)p)->id = id;
                if (phn_gc_track(p) != PHN_OK) sfail(F_ALLOC, "phn_gc_track of a new SVar");
            }
        } else {
            p = phn_object_new_var(KT[kind], n);
            if (p) ((SVar*)p)->id = id;
        }
        if (p && PHN_SIZE(p) != n) sfail(F_ALLOC, "SVar ob_size %ld, expected %d", (long)PHN_SIZE(p), n);
        break;
    }
    case K_LEAF:
        p = phn_object_new(KT[kind]);
        if (p) ((SLeaf*)p)->id = id;
        break;
    default:
        break;
    }
    if (p == NULL) {
        fprintf(stderr, "\n  test_gc_stress: creating a %s failed: %s\n", KIND_NAME[kind], phn_last_error_message());
        abort();
    }
    TRACE("  new #%d %s%s\n", id, KIND_NAME[kind], temp ? " temp" : "");
    objs[id].p = p;
    objs[id].block = (uintptr_t)p - pre_size(kind);
    watch_add(objs[id].block, id);
    if (temp) temps[ntemps++] = id;
    else live[nlive++] = id;
    cov_objects++;
    return id;
}

/* Released entries of the side list (their weak references were dead, so no callback can
 * name them any more): reused. */
static int32_t* side_free;
static int32_t nside_free;

/* A weak reference made inside a callback, held by the side list. */
static void side_weakref(int32_t referent, int with_cb, int path) {
    int32_t i;
    if (nside_free > 0) i = side_free[--nside_free];
    else if (nside < MAXSIDE) i = nside++;
    else return;
    side_wr* s = &side[i];
    memset(s, 0, sizeof *s);
    s->referent = referent;
    s->has_cb = (int8_t)with_cb;
    s->path = (int8_t)path;
    s->phase = (int8_t)phase;
    s->step = cur_step;
    phn_object* w = phn_weakref_new(objs[referent].p, with_cb ? side_cb : NULL, (void*)(intptr_t)i);
    side[i].w = w;
    if (w == NULL) {
        sfail(F_ALLOC, "phn_weakref_new inside a callback: %s", phn_last_error_message());
        return;
    }
    cov_side++;
    /* expectations (§5.5, §7.5, §13.4): a weak reference to a temporary object sees it die
       while it is held: one call. One made by a finalizer to its own object: on the
       dealloc path the dealloc clears weak references with their callbacks afterwards (one
       call); on the collector's path it is cleared without callback after the finalizers
       (none) - unless the object survives a resurrection (then one call at its later
       death, decided after the collection). */
    if (!with_cb) { side[i].lo = side[i].hi = 0; side[i].resolved = 1; }
    else if (path == PATH_NONE || path == PATH_DEALLOC) { side[i].lo = side[i].hi = 1; side[i].resolved = 1; }
    else if (phase == PH_MAIN) { side[i].lo = side[i].hi = 0; side[i].resolved = 1; }
    else side[i].resolved = 0;
}

/* Temporary objects inside a callback: 1-3 objects, maybe linked into a cycle, maybe weakly
 * referenced, then dropped (cycles stay for a later collection). */
static void make_temps(void) {
    static const int tk[] = { K_NODE, K_WNODE, K_LNODE, K_VAR, K_LEAF };
    int n = 1 + (int)(rnd() % 3);
    int32_t ids[3];
    for (int i = 0; i < n; i++) ids[i] = make_object(tk[rnd() % 5], 1);
    for (int i = 0; i < n; i++) {
        if (has_slots(objs[ids[i]].kind) && chance(2)) {
            phn_object* t = objs[ids[(int)(rnd() % (uint64_t)n)]].p;
            PHN_INCREF(t);
            PHN_XSETREF(*slot_ptr(ids[i], 0), t);
        }
        if (is_weakable(objs[ids[i]].kind) && chance(3)) side_weakref(ids[i], chance(2), PATH_NONE);
    }
    cov_temps += n;
    for (int i = 0; i < n; i++) PHN_DECREF(objs[ids[i]].p);
}

static void drop_random_root(void) {
    if (nroots == 0) return;
    int32_t id = roots_take((int)(rnd() % (uint64_t)nroots));
    TRACE("  callback drops root #%d\n", id);
    cov_root_drops++;
    phn_decref(objs[id].p);
}

static void nested_collect(void) {
    int g = (int)(rnd() % 3);
    int was = in_gc;
    int64_t r = phn_gc_collect(g);
    if (was) {
        cov_nested_in_gc++;
        if (r != 0) sfail(F_NESTED, "phn_gc_collect(%d) inside a collection returned %lld", g, (long long)r);
    } else {
        cov_nested_real++;
        if (r < 0) sfail(F_NESTED, "phn_gc_collect(%d) from a callback returned %lld: %s", g, (long long)r, phn_last_error_message());
    }
}

/* What a callback does besides its job. Returns the callback's result: -1 when it fails
 * (counted as an expected report). */
static int reenter(int where, int32_t self) {
    if (!reenter_on || reentry_depth >= 2) return 0;
    reentry_depth++;
    uint64_t r = rnd();
    int fin = where == W_FIN_GC || where == W_FIN_DEALLOC;
    if (phase == PH_RES) {
        if (fin && self && !objs[self].temp && (r & 1)) {   /* resurrect into a root */
            PHN_INCREF(objs[self].p);
            roots_push(self);
            TRACE("  resurrect #%d into a root\n", self);
            cov_resurrect++;
        }
        if (where != W_GCCB && (r >> 2) % 3 == 0) make_temps();
        if (fin && self && is_weakable(objs[self].kind) && (r >> 5) % 3 == 0)
            side_weakref(self, 1, where == W_FIN_GC ? PATH_GC : PATH_DEALLOC);
        if (in_gc && (r >> 8) % 4 == 0) nested_collect();
    } else {
        if ((r >> 2) % 3 == 0) make_temps();
        if (fin && self && is_weakable(objs[self].kind) && (r >> 5) % 3 == 0)
            side_weakref(self, 1, where == W_FIN_GC ? PATH_GC : PATH_DEALLOC);
        if ((r >> 8) % 4 == 0) nested_collect();
        if (!no_root_drops && (r >> 12) % 6 == 0) drop_random_root();
    }
    int fail = (r >> 16) % 7 == 0;
    reentry_depth--;
    if (fail) {
        exp_callback_errors++;
        cov_fail++;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- reachability */

static void reach_from(int32_t epoch_field_sel, int32_t epoch, const int32_t* seeds, int nseeds, int32_t* list, int32_t* nlist) {
    int32_t head = 0, tail = 0;
    for (int i = 0; i < nseeds; i++) {
        int32_t s = seeds[i];
        int32_t* m = epoch_field_sel == 0 ? &objs[s].mark : epoch_field_sel == 1 ? &objs[s].gmark : &objs[s].mark2;
        if (*m != epoch) { *m = epoch; work[tail++] = s; }
    }
    while (head < tail) {
        int32_t v = work[head++];
        if (list) list[(*nlist)++] = v;
        oinfo* o = &objs[v];
        if (!has_slots(o->kind)) continue;
        for (int i = 0; i < o->nslots; i++) {
            int32_t t = o->slot[i];
            if (!t) continue;
            int32_t* m = epoch_field_sel == 0 ? &objs[t].mark : epoch_field_sel == 1 ? &objs[t].gmark : &objs[t].mark2;
            if (*m != epoch) { *m = epoch; work[tail++] = t; }
        }
    }
}

/* the roots as a seed list (unique ids) */
static int32_t* seedbuf;
static int root_seeds(void) {
    int n = 0;
    for (int i = 0; i < nroots; i++) seedbuf[n++] = roots[i];
    return n;
}

/* Tarjan's strongly connected components over the live objects: on_cycle for the members of
 * a component of two or more, or with an edge to itself. */
static int32_t *tj_stack, *cs_node, *cs_pos;
static int32_t tj_counter;
static void compute_on_cycle(void) {
    tj_counter = 0;
    for (int32_t i = 0; i < nlive; i++) {
        oinfo* o = &objs[live[i]];
        o->tj_index = 0;
        o->on_cycle = 0;
        o->on_stack = 0;
    }
    int32_t tsp = 0;
    for (int32_t li = 0; li < nlive; li++) {
        int32_t r = live[li];
        if (!alive(r) || objs[r].tj_index) continue;
        int32_t sp = 0;
        cs_node[sp] = r; cs_pos[sp] = 0; sp++;
        objs[r].tj_index = objs[r].tj_low = ++tj_counter;
        tj_stack[tsp++] = r; objs[r].on_stack = 1;
        while (sp > 0) {
            int32_t v = cs_node[sp - 1];
            oinfo* o = &objs[v];
            int pushed = 0;
            while (has_slots(o->kind) && cs_pos[sp - 1] < o->nslots) {
                int32_t w = o->slot[cs_pos[sp - 1]++];
                if (!w || !alive(w)) continue;
                if (w == v) { o->on_cycle = 1; continue; }
                if (!objs[w].tj_index) {
                    objs[w].tj_index = objs[w].tj_low = ++tj_counter;
                    tj_stack[tsp++] = w; objs[w].on_stack = 1;
                    cs_node[sp] = w; cs_pos[sp] = 0; sp++;
                    pushed = 1;
                    break;
                }
                if (objs[w].on_stack && objs[w].tj_index < o->tj_low) o->tj_low = objs[w].tj_index;
            }
            if (pushed) continue;
            if (o->tj_low == o->tj_index) {
                int32_t size = 0, x;
                int32_t start = tsp;
                do { x = tj_stack[--start]; size++; } while (x != v);
                for (int32_t k = start; k < tsp; k++) {
                    objs[tj_stack[k]].on_stack = 0;
                    if (size > 1) objs[tj_stack[k]].on_cycle = 1;
                }
                tsp = start;
            }
            sp--;
            if (sp > 0) {
                oinfo* u = &objs[cs_node[sp - 1]];
                if (o->tj_low < u->tj_low) u->tj_low = o->tj_low;
            }
        }
    }
}

/* ---------------------------------------------------------------- per-step verification */

static int64_t base_tracked;

static int64_t tracked_all(void) {
    return phn_gc_get_objects(-1, NULL, 0) + phn_gc_get_freeze_count();
}

static void resolve_wr_cb(int32_t w, int lo, int hi) {
    oinfo* o = &objs[w];
    if (o->resolved) return;
    o->cb_lo = lo;
    o->cb_hi = hi;
    o->resolved = 1;
}

static void verify_step(void) {
    if (phn_validate() != PHN_OK) sfail(F_VALIDATE, "%s", phn_last_error_message());
    if (err_callback != exp_callback_errors || err_einval != exp_einval || err_other != 0) {
        sfail(F_ERRORS, "reports: %ld callback failures (expected %ld), %ld EINVAL (expected %ld), %ld other (%s); last: %s",
              err_callback, exp_callback_errors, err_einval, exp_einval, err_other, err_other_msg, err_last);
        err_callback = exp_callback_errors;
        err_einval = exp_einval;
        err_other = 0;
    }
    if (in_gc || reentry_depth) sfail(F_CALLBACK, "in_gc %d / reentry depth %d after a step", in_gc, reentry_depth);

    /* reachable from the roots */
    reach_epoch++;
    nreach = 0;
    reach_from(0, reach_epoch, seedbuf, root_seeds(), reach_list, &nreach);

    /* deaths of this step; weak-reference callback bounds */
    for (int32_t i = 0; i < nlive; i++) {
        int32_t id = live[i];
        oinfo* o = &objs[id];
        int dead = o->frees != 0;
        if (o->kind == K_WREF && o->has_cb && !o->resolved) {
            int32_t r = o->referent;
            if (objs[r].frees && objs[r].death_step == cur_step)
                resolve_wr_cb(id, dead ? 0 : 1, 1);   /* alive at its referent's death: one call */
            else if (dead)
                resolve_wr_cb(id, 0, 0);              /* died first */
        }
        if (o->kind == K_WREF && o->has_cb) {
            int lo = o->resolved ? o->cb_lo : 0, hi = o->resolved ? o->cb_hi : 0;
            if (o->cb_calls < lo || o->cb_calls > hi)
                sfail(F_WRCB, "weakref #%d (referent #%d %s, %s): %d callback calls, expected %d..%d", id, o->referent,
                      KIND_NAME[objs[o->referent].kind], objs[o->referent].frees ? "freed" : "alive", o->cb_calls, lo, hi);
        }
        if (!dead) {
            if (o->must_die_step == cur_step)
                sfail(F_WEAKREF, "weakref #%d to #%d was cleared while its referent was alive (as garbage, inside a collection) but survived it",
                      id, o->referent);
            continue;
        }
        if (o->mark == reach_epoch)
            sfail(F_REACH, "#%d (%s) was freed but is reachable from the roots", id, KIND_NAME[o->kind]);
        if (o->frees != 1) sfail(F_DEALLOC, "#%d (%s): %d frees", id, KIND_NAME[o->kind], o->frees);
        if ((is_cbnode(o->kind) || o->kind == K_LEAF) && o->deallocs != 1)
            sfail(F_DEALLOC, "#%d (%s): dealloc freed it %d times, the allocator %d", id, KIND_NAME[o->kind], o->deallocs, o->frees);
        if (has_fin(o->kind) && o->finalizes != 1)
            sfail(F_DEALLOC, "#%d (%s) freed after %d finalizer calls", id, KIND_NAME[o->kind], o->finalizes);
        live[i--] = live[--nlive];
    }

    /* counts, slots, tracking, finalized marks, weak references of the live objects */
    for (int32_t i = 0; i < nlive; i++) objs[live[i]].exp_rc = objs[live[i]].roots;
    for (int32_t i = 0; i < nlive; i++) {
        int32_t id = live[i];
        oinfo* o = &objs[id];
        if (!has_slots(o->kind)) continue;
        for (int s = 0; s < o->nslots; s++) {
            int32_t t = o->slot[s];
            phn_object* actual = *slot_ptr(id, s);
            if (t && !alive(t)) {
                sfail(F_DANGLING, "#%d (%s) slot %d refers to #%d (%s), which was freed", id, KIND_NAME[o->kind], s, t,
                      KIND_NAME[objs[t].kind]);
                continue;
            }
            if (t) objs[t].exp_rc++;
            if (actual != (t ? objs[t].p : NULL))
                sfail(F_SLOTS, "#%d (%s) slot %d is %p, the model says #%d %p", id, KIND_NAME[o->kind], s, (void*)actual, t,
                      (void*)(t ? objs[t].p : NULL));
        }
    }
    for (int32_t i = 0; i < nlive; i++) {
        int32_t id = live[i];
        oinfo* o = &objs[id];
        if ((int64_t)PHN_REFCNT(o->p) != o->exp_rc)
            sfail(F_REFCNT, "#%d (%s): count %ld, the model says %d (%d roots)", id, KIND_NAME[o->kind], (long)PHN_REFCNT(o->p),
                  o->exp_rc, o->roots);
        int tr = phn_gc_is_tracked(o->p);
        if (tr != (is_gc_kind(o->kind) ? 1 : 0))
            sfail(F_TRACKED, "#%d (%s): phn_gc_is_tracked %d", id, KIND_NAME[o->kind], tr);
        if (has_fin(o->kind) && phn_gc_is_finalized(o->p) != (o->finalizes > 0))
            sfail(F_FINALIZED, "#%d (%s): phn_gc_is_finalized %d after %d finalizer calls", id, KIND_NAME[o->kind],
                  phn_gc_is_finalized(o->p), o->finalizes);
        if (o->kind == K_WREF) {
            int32_t r = o->referent;
            int expect_dead = objs[r].frees != 0 || o->w_cleared;
            phn_object* out = NULL;
            int32_t rc = phn_weakref_get_ref(o->p, &out);
            int ok_state = expect_dead ? (rc == 0 && out == NULL) : (rc == 1 && out == objs[r].p);
            if (out) PHN_DECREF(out);
            if (!ok_state)
                sfail(F_WEAKREF, "weakref #%d (%s callback) to #%d (%s, %s%s): get_ref %d", id, o->has_cb ? "with" : "no", r,
                      KIND_NAME[objs[r].kind], objs[r].frees ? "freed" : "alive", o->w_cleared ? ", cleared by a collection" : "", rc);
        }
    }
    /* temporary objects: freed once each (checked when they die) */
    for (int32_t i = 0; i < ntemps; i++) {
        oinfo* o = &objs[temps[i]];
        if (!o->frees) continue;
        if (o->frees != 1 || ((is_cbnode(o->kind) || o->kind == K_LEAF) && o->deallocs != 1))
            sfail(F_DEALLOC, "temporary #%d (%s): %d frees, %d deallocs", temps[i], KIND_NAME[o->kind], o->frees, o->deallocs);
        temps[i--] = temps[--ntemps];
    }
    if (dealloc_depth_max > PHN_TRASHCAN_DEPTH + 1)
        sfail(F_DEALLOC, "dealloc callbacks nested %d deep (trashcan depth %d)", dealloc_depth_max, PHN_TRASHCAN_DEPTH);
}

/* Side weak references whose referent is freed: dead, called as expected; then released
 * (their callbacks cannot run any more), so that long runs do not accumulate them. */
static int side_check(int32_t i, const char* when) {
    side_wr* s = &side[i];
    phn_object* out = NULL;
    int32_t rc = phn_weakref_get_ref(s->w, &out);
    if (out) PHN_DECREF(out);
    int ok1 = rc == 0 && out == NULL && s->resolved && s->calls >= s->lo && s->calls <= s->hi;
    if (!ok1)
        sfail(F_WRCB, "%s: side weakref %d (to #%d %s, %s callback, made on the %s path at step %d): get_ref %d, %d calls, expected %d..%d%s",
              when, i, s->referent, KIND_NAME[objs[s->referent].kind], s->has_cb ? "with" : "no",
              s->path == PATH_GC ? "collector's" : s->path == PATH_DEALLOC ? "dealloc" : "temporary", s->step, rc, s->calls, s->lo,
              s->hi, s->resolved ? "" : " (unresolved)");
    return ok1;
}

static void side_prune(void) {
    for (int32_t i = 0; i < nside; i++) {
        side_wr* s = &side[i];
        if (s->w == NULL || !objs[s->referent].frees || !s->resolved) continue;
        if (!side_check(i, "released")) continue;
        phn_object* w = s->w;
        s->w = NULL;
        side_free[nside_free++] = i;
        PHN_DECREF(w);
    }
}

/* ---------------------------------------------------------------- operations */

static int32_t pick_reachable(int (*pred)(int)) {
    if (nreach == 0) return 0;
    for (int tries = 0; tries < 16; tries++) {
        int32_t id = reach_list[rnd() % (uint64_t)nreach];
        if (!pred || pred(objs[id].kind)) return id;
    }
    return 0;
}

static int random_kind(void) {
    static const int kinds[] = { K_NODE, K_NODE, K_FNODE, K_FNODE, K_WNODE, K_WNODE, K_FWNODE, K_FWNODE,
                                 K_LNODE, K_LNODE, K_LFNODE, K_LFNODE, K_VAR, K_VAR, K_LEAF, K_LEAF };
    return kinds[rnd() % (sizeof kinds / sizeof kinds[0])];
}

static void op_create(void) {
    int32_t id = make_object(random_kind(), 0);
    roots_push(id);   /* the creation reference */
}

/* A.slot[i] = B (B NULL: clear), with Py_SETREF's order; the test holds A meanwhile. */
static void op_link(int clear) {
    int32_t a = pick_reachable(has_slots);
    if (!a) return;
    int32_t b = 0;
    if (!clear && !chance(8)) b = pick_reachable(NULL);
    int i = (int)(rnd() % (uint64_t)objs[a].nslots);
    phn_object* ap = objs[a].p;
    PHN_INCREF(ap);
    phn_object* bp = b ? objs[b].p : NULL;
    PHN_XINCREF(bp);
    TRACE("  link #%d[%d] = #%d\n", a, i, b);
    objs[a].slot[i] = b;
    phn_object** f = slot_ptr(a, i);
    if (clear && chance(2)) PHN_CLEAR(*f);
    else PHN_XSETREF(*f, bp);
    if (chance(2)) PHN_DECREF(ap);
    else phn_decref(ap);
}

static void op_drop_root(void) {
    if (nroots == 0) return;
    int32_t id = roots_take((int)(rnd() % (uint64_t)nroots));
    TRACE("  drop root #%d\n", id);
    if (chance(2)) PHN_DECREF(objs[id].p);
    else phn_decref(objs[id].p);
}

static void op_add_root(void) {
    int32_t id = pick_reachable(NULL);
    if (!id) return;
    PHN_INCREF(objs[id].p);
    roots_push(id);
}

static int not_weakable(int k) { return k != K_WREF && !is_weakable(k); }

static void op_weakref(void) {
    if (chance(20)) {   /* a type without a weaklist: NULL, EINVAL, nothing created */
        int32_t r = pick_reachable(not_weakable);
        if (!r) return;
        int64_t before = tracked_all();
        exp_einval++;
        phn_object* w = phn_weakref_new(objs[r].p, chance(2) ? model_wr_cb : NULL, NULL);
        cov_bad_weakref++;
        char want[128];
        snprintf(want, sizeof want, "cannot create weak reference to '%s' object", KIND_NAME[objs[r].kind]);
        if (w != NULL || phn_last_error_code() != PHN_EINVAL || strstr(phn_last_error_message(), want) == NULL ||
            tracked_all() != before)
            sfail(F_WEAKREF, "weakref to a %s: %p, error %d \"%s\"", KIND_NAME[objs[r].kind], (void*)w, phn_last_error_code(),
                  phn_last_error_message());
        return;
    }
    int32_t r = pick_reachable(is_weakable);
    if (!r) return;
    int cb = !chance(3);
    phn_object* rp = objs[r].p;
    PHN_INCREF(rp);
    int32_t shared = 0;
    if (!cb && objs[r].basic_wr && alive(objs[r].basic_wr)) shared = objs[r].basic_wr;
    int32_t wid = shared ? 0 : new_info(K_WREF, 0);
    phn_object* w = phn_weakref_new(rp, cb ? model_wr_cb : NULL, (void*)(intptr_t)wid);
    if (w == NULL) {
        sfail(F_WEAKREF, "phn_weakref_new to #%d (%s) failed: %s", r, KIND_NAME[objs[r].kind], phn_last_error_message());
        if (wid) objs[wid].kind = K_NONE;
        PHN_DECREF(rp);
        return;
    }
    if (shared) {
        cov_shared_hits++;
        if (w != objs[shared].p)
            sfail(F_WEAKREF, "the callback-less weakref to #%d is #%d %p; phn_weakref_new gave %p", r, shared, (void*)objs[shared].p, (void*)w);
        roots_push(shared);
    } else {
        TRACE("  weakref #%d -> #%d cb %d\n", wid, r, cb);
        oinfo* o = &objs[wid];
        o->p = w;
        o->referent = r;
        o->has_cb = (int8_t)cb;
        o->block = (uintptr_t)w - 16 - dbg_extra;
        watch_add(o->block, wid);
        o->wr_next = objs[r].wr_head;
        objs[r].wr_head = wid;
        if (!cb) objs[r].basic_wr = wid;
        live[nlive++] = wid;
        roots_push(wid);
        cov_wrefs++;
        if (phn_weakref_check(w) != 1) sfail(F_WEAKREF, "phn_weakref_check(new weakref) != 1");
    }
    PHN_DECREF(rp);
}

/* A chain of 60-160 new objects hanging from a new root (the trashcan when it is dropped). */
static void op_chain(void) {
    static const int ck[] = { K_NODE, K_FNODE, K_WNODE, K_FWNODE, K_LNODE, K_LFNODE, K_VAR };
    no_root_drops++;
    int k = 60 + (int)(rnd() % 100);
    int32_t prev = make_object(ck[rnd() % 7], 0);
    roots_push(prev);
    for (int i = 1; i < k; i++) {
        int kind = i == k - 1 && chance(2) ? K_LEAF : ck[rnd() % 7];
        int32_t id = make_object(kind, 0);
        objs[prev].slot[0] = id;      /* the creation reference moves into the slot */
        *slot_ptr(prev, 0) = objs[id].p;
        prev = id;
    }
    no_root_drops--;
    cov_chain++;
}

/* A ring of 1-5 new objects (one: an edge to itself), finalizer kinds preferred, sometimes
 * with an edge into the pool; one root holds it: dropping that root makes a cycle of
 * garbage (finalizers on the collector's path, resurrection). */
static void op_ring(void) {
    static const int rk[] = { K_NODE, K_FNODE, K_FNODE, K_WNODE, K_FWNODE, K_FWNODE, K_LNODE, K_LFNODE, K_LFNODE, K_VAR };
    no_root_drops++;
    int k = 1 + (int)(rnd() % 5);
    int32_t ids[5];
    int32_t out = chance(3) ? pick_reachable(NULL) : 0;
    if (out) PHN_INCREF(objs[out].p);
    for (int i = 0; i < k; i++) ids[i] = make_object(rk[rnd() % 10], 0);
    for (int i = 0; i < k; i++) {   /* each creation reference moves into the previous slot */
        int32_t nxt = ids[(i + 1) % k];
        objs[ids[i]].slot[0] = nxt;
        *slot_ptr(ids[i], 0) = objs[nxt].p;
    }
    if (out) {
        int s = objs[ids[0]].nslots > 1 ? 1 : 0;
        if (s == 0) {   /* a one-item SVar has no slot left for it */
            PHN_DECREF(objs[out].p);
        } else {
            objs[ids[0]].slot[s] = out;
            *slot_ptr(ids[0], s) = objs[out].p;
        }
    }
    /* the root: a new reference to the first (its creation reference is in the last
       object's slot 0) */
    PHN_INCREF(objs[ids[0]].p);
    roots_push(ids[0]);
    no_root_drops--;
    cov_rings++;
}

static int64_t temps_gc_alive(void) {
    int64_t n = 0;
    for (int32_t i = 0; i < ntemps; i++)
        if (!objs[temps[i]].frees && is_gc_kind(objs[temps[i]].kind)) n++;
    return n;
}

static void stats_read(phn_gc_stats s[3]) {
    for (int g = 0; g < 3; g++) {
        memset(&s[g], 0, sizeof s[g]);
        s[g].struct_size = (uint32_t)sizeof s[g];
        phn_gc_get_stats(g, &s[g]);
    }
}

/* collect(g) with its checks; quiet: the callbacks do not re-enter (exact return value). */
static void op_collect(int g, int quiet) {
    phn_gc_stats before[3], after[3];
    int64_t G_gc = 0, G_nonfrozen_gc = 0, temps_gc = 0;
    int saved_reenter = reenter_on;
    if (g == 2) {
        /* G: the collector's garbage (spec §7.2): everything not reachable from the roots
           nor from a frozen object (frozen objects are outside the collection, §10) */
        int n = root_seeds();
        if (frozen)
            for (int32_t i = 0; i < nlive; i++)
                if (alive(live[i]) && objs[live[i]].frozen) seedbuf[n++] = live[i];
        g_epoch++;
        reach_from(1, g_epoch, seedbuf, n, NULL, NULL);
        for (int32_t i = 0; i < nlive; i++) {
            oinfo* o = &objs[live[i]];
            if (o->gmark == g_epoch || !alive(live[i])) { o->gmark = 0; continue; }
            o->gmark = -g_epoch;   /* in G */
            if (is_gc_kind(o->kind)) {
                G_gc++;
                if (!o->frozen) G_nonfrozen_gc++;
            }
        }
        temps_gc = temps_gc_alive();
        if (frozen) {   /* what must survive: what the frozen cycles reach (the roots may
                           be dropped by the callbacks meanwhile; verify_step checks them) */
            compute_on_cycle();
            int m = 0;
            for (int32_t i = 0; i < nlive; i++)
                if (alive(live[i]) && objs[live[i]].frozen && objs[live[i]].on_cycle) seedbuf[m++] = live[i];
            reach2_epoch++;
            reach_from(2, reach2_epoch, seedbuf, m, NULL, NULL);
        }
    }
    if (quiet) { reenter_on = 0; cov_quiet++; }
    stats_read(before);
    last_stop_collected = last_stop_uncollectable = -1;
    TRACE("  collect(%d) quiet %d\n", g, quiet);
    int64_t rv = phn_gc_collect(g);
    TRACE("  collect(%d) -> %lld\n", g, (long long)rv);
    stats_read(after);
    reenter_on = saved_reenter;
    cov_collect[g]++;
    if (rv < 0) sfail(F_RETURN, "phn_gc_collect(%d) returned %lld: %s", g, (long long)rv, phn_last_error_message());
    for (int i = 0; i < 3; i++) {
        int64_t dcoll = after[i].collections - before[i].collections;
        int64_t dcol = after[i].collected - before[i].collected;
        int64_t dunc = after[i].uncollectable - before[i].uncollectable;
        int64_t want_coll = i == g ? 1 : 0, want_col = i == g ? rv : 0;
        if (dcoll != want_coll || dcol != want_col || dunc != 0)
            sfail(F_STATS, "collect(%d) returned %lld: stats[%d] collections +%lld, collected +%lld, uncollectable +%lld", g,
                  (long long)rv, i, (long long)dcoll, (long long)dcol, (long long)dunc);
    }
    if (last_stop_collected != rv || last_stop_uncollectable != 0)
        sfail(F_STATS, "collect(%d) returned %lld, the stop callback saw collected %lld uncollectable %lld", g, (long long)rv,
              (long long)last_stop_collected, (long long)last_stop_uncollectable);
    if (g != 2) return;

    /* after collect(2) */
    int32_t reach1_epoch = 0;
    if (phase == PH_RES) {   /* the resurrected roots and what they reach survive */
        reach_epoch++;
        reach1_epoch = reach_epoch;
        reach_from(0, reach1_epoch, seedbuf, root_seeds(), NULL, NULL);
    }
    int64_t expect_rv = temps_gc, resurrected = 0;
    for (int32_t i = 0; i < nlive; i++) {
        int32_t id = live[i];
        oinfo* o = &objs[id];
        if (o->gmark != -g_epoch) {
            if (frozen && o->mark2 == reach2_epoch && !alive(id))
                sfail(F_REACH, "#%d (%s), reachable from a frozen cycle, was freed by collect(2)", id, KIND_NAME[o->kind]);
            continue;
        }
        int survives = phase == PH_RES && o->mark == reach1_epoch;
        if (survives) {
            resurrected++;
            if (!alive(id)) sfail(F_GARBAGE, "#%d (%s) was resurrected (reachable from a new root) but freed", id, KIND_NAME[o->kind]);
        } else if (!(frozen && o->frozen)) {
            if (alive(id))
                sfail(F_GARBAGE, "#%d (%s) was unreachable before collect(2) and is still alive (count %ld)", id, KIND_NAME[o->kind],
                      (long)PHN_REFCNT(o->p));
            if (is_gc_kind(o->kind)) expect_rv++;
        }
        if (phase == PH_RES && has_fin(o->kind) && o->finalizes != 1)
            sfail(F_DEALLOC, "garbage #%d (%s): %d finalizer calls after collect(2)", id, KIND_NAME[o->kind], o->finalizes);
    }
    if (resurrected) cov_res_collect_with_res++;
    if (phase == PH_RES || (quiet && !frozen)) {
        if (rv != expect_rv)
            sfail(F_RETURN, "collect(2) returned %lld; expected %lld (%lld model objects in the garbage, %lld resurrected, %lld temporary)",
                  (long long)rv, (long long)expect_rv, (long long)G_gc, (long long)resurrected, (long long)temps_gc);
    } else if (rv < G_nonfrozen_gc) {
        sfail(F_RETURN, "collect(2) returned %lld < %lld unreachable GC objects", (long long)rv, (long long)G_nonfrozen_gc);
    }
    /* weak references to the garbage (§7.5): those with a callback are cleared; the callback
       runs iff the weak reference is not garbage itself */
    for (int32_t i = 0; i < nlive; i++) {
        int32_t w = live[i];
        oinfo* o = &objs[w];
        if (o->kind != K_WREF || !o->has_cb) continue;
        oinfo* r = &objs[o->referent];
        if (r->gmark != -g_epoch || (frozen && r->frozen)) continue;
        if (!o->resolved) {
            /* garbage from the start: no call. Not garbage at the start: one call - unless
               a callback dropped its last root before the collection began (the gc start
               callback), which only a weak reference that died in this step can have seen */
            int w_garbage = o->gmark == -g_epoch && !(frozen && o->frozen);
            if (w_garbage) resolve_wr_cb(w, 0, 0);
            else if (quiet || phase == PH_RES || alive(w)) resolve_wr_cb(w, 1, 1);
            else resolve_wr_cb(w, 0, 1);
        }
        o->w_cleared = 1;
    }
    /* side weak references made by finalizers on the collector's path during this
       collection (resurrection phase): one call later if their object survived */
    if (phase == PH_RES)
        for (int32_t i = 0; i < nside; i++) {
            side_wr* s = &side[i];
            if (s->resolved || s->step != cur_step) continue;
            s->lo = s->hi = alive(s->referent) ? 1 : 0;
            s->resolved = 1;
        }
    for (int32_t i = 0; i < nlive; i++) if (objs[live[i]].gmark == -g_epoch) objs[live[i]].gmark = 0;
}

static void op_freeze(void) {
    if (chance(2)) op_collect(2, 1);   /* quiet: nothing is left unreachable; else the garbage
                                          present is frozen with the rest (§10, scenario 66) */
    int64_t expected = base_tracked + (nside - nside_free), tracked_before = tracked_all();
    for (int32_t i = 0; i < nlive; i++)
        if (alive(live[i]) && is_gc_kind(objs[live[i]].kind)) expected++;
    expected += temps_gc_alive();
    phn_gc_freeze();
    int64_t fc = phn_gc_get_freeze_count();
    int32_t c[3] = { -1, -1, -1 };
    phn_gc_get_count(c);
    if (fc != tracked_before || fc != expected || c[0] != 0 || c[1] != 0 || c[2] != 0 || phn_gc_get_objects(-1, NULL, 0) != 0)
        sfail(F_FREEZE, "freeze: freeze count %lld, tracked before %lld, model %lld, counts (%d, %d, %d), get_objects %lld",
              (long long)fc, (long long)tracked_before, (long long)expected, c[0], c[1], c[2],
              (long long)phn_gc_get_objects(-1, NULL, 0));
    for (int32_t i = 0; i < nlive; i++)
        if (alive(live[i]) && is_gc_kind(objs[live[i]].kind)) objs[live[i]].frozen = 1;
    frozen = 1;
    unfreeze_at = cur_step + 50 + (int)(rnd() % 300);
    cov_freeze++;
}

static void op_unfreeze(void) {
    phn_gc_unfreeze();
    if (phn_gc_get_freeze_count() != 0) sfail(F_FREEZE, "unfreeze: freeze count %lld", (long long)phn_gc_get_freeze_count());
    for (int32_t i = 0; i < nlive; i++) objs[live[i]].frozen = 0;
    frozen = 0;
}

static int auto_on;
static void op_toggle_auto(void) {
    if (!auto_on) {
        phn_gc_set_threshold(1 + (int)(rnd() % 40), 1 + (int)(rnd() % 5), 1 + (int)(rnd() % 5));
        phn_gc_enable();
        auto_on = 1;
        cov_auto_stretch++;
    } else {
        phn_gc_disable();
        auto_on = 0;
    }
}

/* ---------------------------------------------------------------- types and setup */

static void make_types(void) {
    static const uint32_t offs[SN_SLOTS] = {
        offsetof(SNode, slot[0]), offsetof(SNode, slot[1]), offsetof(SNode, slot[2]), offsetof(SNode, slot[3])
    };
    for (int k = K_NODE; k <= K_LEAF; k++) {
        phn_type_spec s;
        memset(&s, 0, sizeof s);
        s.struct_size = (uint32_t)sizeof s;
        s.name = KIND_NAME[k];
        if (is_cbnode(k)) {
            s.flags = PHN_TPFLAGS_HAVE_GC | (is_weakable(k) ? PHN_TPFLAGS_WEAKREFABLE : 0u);
            s.basicsize = (int64_t)sizeof(SNode);
            s.traverse = s_traverse;
            s.clear = s_clear;
            s.finalize = has_fin(k) ? s_finalize : NULL;
            s.dealloc = s_dealloc;
        } else if (k == K_LNODE || k == K_LFNODE) {
            s.flags = PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_WEAKREFABLE;
            s.basicsize = (int64_t)sizeof(SNode);
            s.ref_offsets = offs;
            s.ref_count = SN_SLOTS;
            s.finalize = k == K_LFNODE ? lf_finalize : NULL;
        } else if (k == K_VAR) {
            s.flags = PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_WEAKREFABLE | PHN_TPFLAGS_ITEMS_ARE_REFS;
            s.basicsize = (int64_t)sizeof(SVar);
            s.itemsize = (int64_t)sizeof(phn_object*);
        } else {   /* Leaf */
            s.basicsize = (int64_t)sizeof(SLeaf);
            s.dealloc = leaf_dealloc;
        }
        KT[k] = phn_type_new(&s);
        if (KT[k] == NULL) {
            fprintf(stderr, "phn_type_new(%s): %s\n", KIND_NAME[k], phn_last_error_message());
            abort();
        }
    }
}

static int stress_setup_done;
static void stress_setup(void) {
    if (stress_setup_done) return;
    stress_setup_done = 1;
    objs = (oinfo*)calloc(MAXOBJ, sizeof *objs);
    live = (int32_t*)calloc(MAXOBJ, sizeof *live);
    temps = (int32_t*)calloc(MAXOBJ, sizeof *temps);
    reach_list = (int32_t*)calloc(MAXOBJ, sizeof *reach_list);
    work = (int32_t*)calloc(MAXOBJ, sizeof *work);
    seedbuf = (int32_t*)calloc(MAXOBJ + MAXROOTS, sizeof *seedbuf);
    tj_stack = (int32_t*)calloc(MAXOBJ, sizeof *tj_stack);
    cs_node = (int32_t*)calloc(MAXOBJ, sizeof *cs_node);
    cs_pos = (int32_t*)calloc(MAXOBJ, sizeof *cs_pos);
    side = (side_wr*)calloc(MAXSIDE, sizeof *side);
    side_free = (int32_t*)calloc(MAXSIDE, sizeof *side_free);
    wkeys = (uintptr_t*)calloc(WATCH_SIZE, sizeof *wkeys);
    wvals = (int32_t*)calloc(WATCH_SIZE, sizeof *wvals);
    if (!objs || !live || !temps || !reach_list || !work || !seedbuf || !tj_stack || !cs_node || !cs_pos || !side || !side_free || !wkeys || !wvals) {
        fprintf(stderr, "test_gc_stress: out of memory\n");
        abort();
    }
    make_types();
}

static int hook_installed;
static void hook_on(void) {
    if (hook_installed) return;
    hook_installed = 1;
    phn_get_allocator(PHN_DOMAIN_OBJ, &obj_prev);
    phn_allocator a = { NULL, hk_malloc, hk_calloc, hk_realloc, hk_free };
    if (phn_set_allocator(PHN_DOMAIN_OBJ, &a) != PHN_OK) {
        fprintf(stderr, "test_gc_stress: cannot hook OBJ: %s\n", phn_last_error_message());
        abort();
    }
}
static int hook_keep;   /* the --stress-debug child keeps it under the debug hooks */
static void hook_off(void) {
    if (!hook_installed || hook_keep) return;
    phn_set_allocator(PHN_DOMAIN_OBJ, &obj_prev);
    hook_installed = 0;
}

/* The free hook must see the blocks where the model expects them. */
static void hook_probe(void) {
    static const int probe_kinds[] = { K_LEAF, K_NODE, K_FWNODE, K_VAR };
    phn_gc_disable();
    for (int i = 0; i < 4; i++) {
        int k = probe_kinds[i];
        last_block = NULL;
        phn_object* p = k == K_VAR ? phn_gc_new_var(KT[k], 2) : is_gc_kind(k) ? phn_gc_new(KT[k]) : phn_object_new(KT[k]);
        if (p == NULL || (uintptr_t)last_block != (uintptr_t)p - pre_size(k))
            sfail(F_ALLOC, "a new %s at %p: its block is %p, the model says %p", KIND_NAME[k], (void*)p, last_block,
                  (void*)((uintptr_t)p - pre_size(k)));
        if (p == NULL) continue;
        if (is_gc_kind(k)) phn_gc_track(p);   /* zero-filled: id 0 (not counted), no references */
        PHN_DECREF(p);
    }
}

/* Before a phase: nothing left from the other tests or phases. */
static void phase_reset(void) {
    phn_gc_disable();
    phn_gc_set_debug(0);
    phn_gc_collect(2);
    phn_gc_garbage_clear();
    phn_gc_collect(2);
    nroots = 0;
    nlive = ntemps = 0;
    nside = nside_free = 0;
    frozen = 0;
    auto_on = 0;
    in_gc = 0;
    err_callback = err_einval = err_other = 0;
    exp_callback_errors = exp_einval = 0;
    total_fails = 0;
    base_tracked = tracked_all();
}

/* The end of a phase: drop every root, collect without re-entry, everything must be freed
 * exactly once, every finalizer must have run once, every weak reference must be dead
 * with the expected number of callback calls. Then the side weak references go. */
static void phase_end(const char* name, int32_t first_id) {
    if (frozen) op_unfreeze();
    phn_gc_disable();
    auto_on = 0;
    reenter_on = 0;
    cur_step++;
    while (nroots > 0) {
        int32_t id = roots_take(nroots - 1);
        phn_decref(objs[id].p);
    }
    verify_step();
    cur_step++;
    op_collect(2, 1);
    verify_step();
    cur_step++;
    op_collect(2, 1);   /* what the first one's weak-reference callbacks left: nothing */
    verify_step();
    long bad_end = 0;
    for (int32_t id = first_id; id < nobjs; id++) {
        oinfo* o = &objs[id];
        if (o->kind == K_NONE) continue;
        int ok1 = o->frees == 1;
        if ((is_cbnode(o->kind) || o->kind == K_LEAF) && o->deallocs != 1) ok1 = 0;
        if (has_fin(o->kind) && o->finalizes != 1) ok1 = 0;
        if (o->kind == K_WREF && o->has_cb && (!o->resolved || o->cb_calls < o->cb_lo || o->cb_calls > o->cb_hi)) ok1 = 0;
        if (!ok1 && bad_end++ < 5)
            sfail(F_END, "%s #%d (%s%s): %d frees, %d deallocs, %d finalizer calls, %d callback calls (expected %d..%d%s)", name, id,
                  KIND_NAME[o->kind], o->temp ? ", temporary" : "", o->frees, o->deallocs, o->finalizes, o->cb_calls, o->cb_lo, o->cb_hi,
                  o->resolved ? "" : ", unresolved");
    }
    if (bad_end > 5) sfail(F_END, "%s: %ld objects in all", name, bad_end);
    for (int32_t i = 0; i < nside; i++)
        if (side[i].w != NULL) side_check(i, name);
    for (int32_t i = 0; i < nside; i++) PHN_XDECREF(side[i].w);
    nside = nside_free = 0;
    cur_step++;
    int64_t rv = phn_gc_collect(2);
    if (rv != 0) sfail(F_END, "%s: a last collect(2) returned %lld, expected 0", name, (long long)rv);
    if (tracked_all() != base_tracked)
        sfail(F_END, "%s: %lld objects tracked at the end, %lld at the start", name, (long long)tracked_all(), (long long)base_tracked);
    if (phn_validate() != PHN_OK) sfail(F_VALIDATE, "%s end: %s", name, phn_last_error_message());
    if (err_callback != exp_callback_errors || err_einval != exp_einval || err_other != 0)
        sfail(F_ERRORS, "%s end: %ld / %ld callback reports, %ld / %ld EINVAL, %ld other", name, err_callback, exp_callback_errors,
              err_einval, exp_einval, err_other);
}

static void report_checks(const char* phase_name, int steps_done, int steps_wanted) {
    char name[512];
    snprintf(name, sizeof name, "%s: all %d steps ran (a phase stops at its first failing step)", phase_name, steps_wanted);
    CHECK_BODY(name) {
        result = steps_done == steps_wanted;
        if (!result) fprintf(stderr, "\n  stopped after %d of %d steps, seed %llu\n", steps_done, steps_wanted, (unsigned long long)seed);
    }
    for (int c = 0; c < F__COUNT; c++) {
        snprintf(name, sizeof name, "%s: %s", phase_name, F_NAME[c]);
        CHECK_BODY(name) {
            result = fails[c] == 0;
            if (!result) fprintf(stderr, "\n  %ld failure(s), seed %llu\n", fails[c], (unsigned long long)seed);
        }
    }
    memset(fails, 0, sizeof fails);
}

/* ---------------------------------------------------------------- the main phase */

enum { LIVE_CAP = 2000 };
static int MAIN_STEPS = 20000, RES_STEPS = 4000;   /* PHN_GC_STRESS_STEPS=<n>: n and n / 5 */

static void read_steps(void) {
    const char* s = getenv("PHN_GC_STRESS_STEPS");
    if (s && atoi(s) > 0) {
        MAIN_STEPS = atoi(s);
        RES_STEPS = MAIN_STEPS / 5 > 0 ? MAIN_STEPS / 5 : 1;
    }
}

static void test_stress_main(const char* label, int wanted) {
    stress_setup();
    phn_set_error_handler(on_error, NULL);
    int32_t thr[3] = { 0, 0, 0 };
    phn_gc_get_threshold(thr);
    phase = PH_MAIN;
    phase_reset();
    hook_on();
    hook_probe();
    phn_gc_add_callback(gc_cb, NULL);
    int32_t first_id = nobjs;
    reenter_on = 1;
    dealloc_depth_max = 0;
    int steps = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t stats0 = gc_stat(0, 0) + gc_stat(1, 0) + gc_stat(2, 0);
    for (steps = 0; steps < wanted; steps++) {
        cur_step++;
        if (frozen && cur_step >= unfreeze_at) op_unfreeze();
        int r = (int)(rnd() % 1000);
        /* the pool's size follows a tide (150 to 1500 live objects, period 5000 steps):
           growing, drops turn into creations half the time; above it, creations into drops */
        int tide_pos = cur_step % 5000;
        int target = 150 + (int)(1350L * (tide_pos < 2500 ? tide_pos : 5000 - tide_pos) / 2500);
        int over = nlive > LIVE_CAP || nlive > target;
        if (!over && r >= 490 && r < 640 && chance(2)) r = chance(2) ? 0 : 900;
        TRACE("step %d: op %d, frozen %d, automatic %d, %d roots, %d live\n", cur_step, r, frozen, auto_on, nroots, nlive);
        if (r < 200) { if (over) op_drop_root(); else op_create(); }
        else if (r < 430) op_link(0);
        else if (r < 490) op_link(1);
        else if (r < 640) op_drop_root();
        else if (r < 680) op_add_root();
        else if (r < 780) op_weakref();
        else if (r < 820) op_collect(0, 0);
        else if (r < 840) op_collect(1, 0);
        else if (r < 870) op_collect(2, !frozen && chance(3));
        else if (r < 880) op_toggle_auto();
        else if (r < 884) { if (!frozen) op_freeze(); }
        else if (r < 887) { if (!over) op_chain(); }
        else if (r < 889) { int n = nroots / 2; while (n-- > 0) op_drop_root(); }
        else if (r < 950) { if (over) op_drop_root(); else op_ring(); }
        else op_drop_root();
        verify_step();
        if (steps % 500 == 499) side_prune();
        if (total_fails) break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cov_auto_collections = gc_stat(0, 0) + gc_stat(1, 0) + gc_stat(2, 0) - stats0 - cov_collect[0] - cov_collect[1] - cov_collect[2];
    phase_end("main", first_id);
    phn_gc_remove_callback(gc_cb, NULL);
    phn_gc_set_threshold(thr[0], thr[1], thr[2]);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr,
            "\n  %s main phase: seed %llu, %d steps in %.1f s; %ld objects, %ld weakrefs (%ld shared), %ld chains; collect(0/1/2) %ld/%ld/%ld "
            "(%ld quiet), %lld automatic/nested collections in %ld stretches, %ld freezes; finalizers %ld by the collector, %ld by dealloc; "
            "%ld clears; weakref callbacks %ld model, %ld side; %ld gc callbacks; %ld temporaries, %ld side weakrefs; %ld failing callbacks; "
            "nested collect %ld inside, %ld real; %ld roots dropped by callbacks; dealloc nesting %d\n",
            label, (unsigned long long)seed, steps, secs, cov_objects, cov_wrefs, cov_shared_hits, cov_chain, cov_collect[0], cov_collect[1],
            cov_collect[2], cov_quiet, cov_auto_collections, cov_auto_stretch, cov_freeze, cov_fin_gc, cov_fin_dealloc, cov_clear, cov_wrcb,
            cov_sidecb, cov_gccb, cov_temps, cov_side, cov_fail, cov_nested_in_gc, cov_nested_real, cov_root_drops, dealloc_depth_max);
    report_checks(label, steps, wanted);
    char name[512];
    snprintf(name, sizeof name, "%s: the run covered every re-entry (gc and dealloc finalizers, clears, weakref and gc callbacks "
             "failing, nested collects, root drops, freezes, automatic stretches, trashcan chains)", label);
    CHECK_BODY(name) {
        result = cov_fin_gc > 0 && cov_fin_dealloc > 0 && cov_clear > 0 && cov_wrcb > 0 && cov_sidecb > 0 && cov_gccb > 0 &&
                 cov_fail > 0 && cov_nested_in_gc > 0 && cov_nested_real > 0 && cov_root_drops > 0 && cov_freeze > 0 &&
                 cov_auto_stretch > 0 && cov_auto_collections > 0 && cov_chain > 0 && cov_quiet > 0 && cov_bad_weakref > 0 &&
                 cov_shared_hits > 0 && dealloc_depth_max > 10;
    }
    snprintf(name, sizeof name, "%s: the run took less than 60 s", label);
    CHECK_BODY(name) { result = secs < 60.0; }
}

/* ---------------------------------------------------------------- the resurrection phase */

static void test_stress_resurrection(const char* label, int wanted) {
    stress_setup();
    phase = PH_RES;
    phase_reset();
    phn_gc_add_callback(gc_cb, NULL);
    int32_t first_id = nobjs;
    reenter_on = 1;
    long res0 = cov_resurrect, fin_gc0 = cov_fin_gc, fin_dealloc0 = cov_fin_dealloc;
    cov_res_collect_with_res = 0;
    int steps;
    for (steps = 0; steps < wanted; steps++) {
        cur_step++;
        int r = (int)(rnd() % 1000);
        int over = nlive > LIVE_CAP / 4;
        TRACE("step %d: op %d, %d roots, %d live\n", cur_step, r, nroots, nlive);
        if (r < 150) { if (over) op_drop_root(); else op_create(); }
        else if (r < 250) { if (over) op_drop_root(); else op_ring(); }
        else if (r < 430) op_link(0);
        else if (r < 500) op_link(1);
        else if (r < 750) op_drop_root();
        else if (r < 770) op_add_root();
        else if (r < 880) op_weakref();
        else if (r < 940) op_collect(2, 0);
        else if (r < 945) { int n = nroots / 2; while (n-- > 0) op_drop_root(); }
        else op_drop_root();
        verify_step();
        if (steps % 500 == 499) side_prune();
        if (total_fails) break;
    }
    phase_end("resurrection", first_id);
    phn_gc_remove_callback(gc_cb, NULL);
    phn_set_error_handler(NULL, NULL);
    hook_off();
    fprintf(stderr, "\n  %s phase: %d steps, %ld resurrections, %ld collect(2) with survivors, finalizers %ld gc / %ld dealloc\n",
            label, steps, cov_resurrect - res0, cov_res_collect_with_res, cov_fin_gc - fin_gc0, cov_fin_dealloc - fin_dealloc0);
    report_checks(label, steps, wanted);
    char name[512];
    snprintf(name, sizeof name, "%s: objects were resurrected on both paths and collect(2) kept some", label);
    CHECK(name, cov_resurrect - res0 > 20 && cov_res_collect_with_res > 5 && cov_fin_gc > fin_gc0 && cov_fin_dealloc > fin_dealloc0);
}

/* ================================================================== part 3: re-entrant callbacks */

static phn_type *T_node3, *T_wnode3, *T_rnode3;
static phn_object* victim;           /* the only reference to an object a callback drops */
static int64_t victim_id;
static int64_t nested3, nested_stop3;
static int clear_armed, wr_armed, gc_armed_start, gc_armed_stop;
static int fail_next;
static phn_object* kept_wr[8];        /* weak references the callbacks made */
static int nkept;
static int count_cb_calls[8];
static int inner_dead_ok = -1;
static int64_t stop_collected3 = -1;
static int64_t temp_ids[8];
static int ntemp_ids;

static int32_t PHN_CALL count_cb(void* ctx, phn_object* w) {
    int i = (int)(intptr_t)ctx;
    count_cb_calls[i]++;
    phn_object* out = NULL;
    if (phn_weakref_get_ref(w, &out) != 0 || out != NULL) count_cb_calls[i] += 1000;   /* alive inside: wrong */
    return 0;
}

/* What the re-entrant callbacks do: a temporary 2-cycle (WNode <-> Node) with a weak
 * reference (callback count_cb) to its WNode, dropped; a dropped acyclic temporary Node
 * (freed at once); the last reference to the victim dropped; phn_gc_collect(2). */
static void callback_work(void) {
    Node* t1 = new_node(T_wnode3);
    Node* t2 = new_node(T_node3);
    node_set(t1, 0, t2);
    node_set(t2, 0, t1);
    temp_ids[ntemp_ids++] = t1->id;
    temp_ids[ntemp_ids++] = t2->id;
    int k = nkept++;
    kept_wr[k] = phn_weakref_new(O(t1), count_cb, (void*)(intptr_t)k);
    PHN_DECREF(t1);
    PHN_DECREF(t2);
    Node* n = new_node(T_node3);
    temp_ids[ntemp_ids++] = n->id;
    PHN_DECREF(n);
    PHN_CLEAR(victim);
    nested3 = phn_gc_collect(2);
}

static int32_t PHN_CALL rn_clear(phn_object* self) {
    Node* n = (Node*)self;
    glog_add(EV_CLEAR, n->id);
    for (int i = 0; i < NODE_SLOTS; i++) PHN_CLEAR(n->slot[i]);
    if (!clear_armed) return 0;
    clear_armed = 0;
    callback_work();
    return -1;
}

static int32_t PHN_CALL reent_wr_cb(void* ctx, phn_object* w) {
    (void)ctx;
    glog_add(EV_WEAKCB, 0);
    phn_object* out = NULL;
    inner_dead_ok = phn_weakref_get_ref(w, &out) == 0 && out == NULL;
    if (out) PHN_DECREF(out);
    if (!wr_armed) return 0;
    wr_armed = 0;
    callback_work();
    if (fail_next) { fail_next = 0; return -1; }
    return 0;
}

static int32_t PHN_CALL reent_gc_cb(void* ctx, int32_t ph, const phn_gc_info* info) {
    (void)ctx;
    glog_add(EV_GCCB, ph);
    if (ph == PHN_GC_PHASE_START && gc_armed_start) {
        gc_armed_start = 0;
        callback_work();
        return -1;
    }
    if (ph == PHN_GC_PHASE_STOP && gc_armed_stop) {
        gc_armed_stop = 0;
        stop_collected3 = info->collected;
        int64_t at_start = nested3;
        callback_work();   /* the victim is gone already (dropped at start) */
        nested_stop3 = nested3;
        nested3 = at_start;
        return -2;
    }
    return 0;
}

static long err3_callback, err3_total;
static char err3_msgs[4][512];
static void PHN_CALL on_error3(void* ctx, int32_t code, const char* message) {
    (void)ctx;
    err3_total++;
    if (code == PHN_ECALLBACK) {
        if (err3_callback < 4) snprintf(err3_msgs[err3_callback], sizeof err3_msgs[0], "%s", message);
        err3_callback++;
    }
}

static int freed_once_id(int64_t id) { return glog_count(EV_FREE, id) == 1; }
static int temps_state(int from, int to, int freed) {
    for (int i = from; i < to; i++)
        if (glog_count(EV_FREE, temp_ids[i]) != (freed ? 1 : 0)) return 0;
    return 1;
}

static void start3(void) {
    gc_scenario_start();
    nkept = 0;
    ntemp_ids = 0;
    memset(count_cb_calls, 0, sizeof count_cb_calls);
    nested3 = -12345;
    err3_callback = err3_total = 0;
    memset(err3_msgs, 0, sizeof err3_msgs);
    Node* v = new_node(T_node3);
    victim = O(v);
    victim_id = v->id;
}
static void end3(void) {
    for (int i = 0; i < nkept; i++) PHN_XDECREF(kept_wr[i]);
    nkept = 0;
    PHN_CLEAR(victim);
}

static void test_reentrant_callbacks(void) {
    T_node3 = node_type("Node3", 0);
    T_wnode3 = node_type("WNode3", NV_WEAK);
    {   /* RNode: the fixture's Node with a clear callback that re-enters */
        phn_type_spec s;
        memset(&s, 0, sizeof s);
        s.struct_size = (uint32_t)sizeof s;
        s.name = "RNode";
        s.flags = PHN_TPFLAGS_HAVE_GC;
        s.basicsize = (int64_t)sizeof(Node);
        s.traverse = node_traverse;
        s.clear = rn_clear;
        s.dealloc = node_dealloc;
        T_rnode3 = phn_type_new(&s);
        node_types[node_type_count].type = T_rnode3;
        node_types[node_type_count].variant = 0;
        node_type_count++;
    }
    phn_set_error_handler(on_error3, NULL);

    /* --- a clear callback (called by the collector on A of A <-> B) */
    start3();
    Node* a = new_node(T_rnode3);
    Node* b = new_node(T_rnode3);
    int64_t ida = a->id, idb = b->id;
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    clear_armed = 1;
    int64_t rv = phn_gc_collect(2);
    CHECK_BODY("reentrant clear: collect() returns 2; the clear's own collect() returned 0") {
        result = rv == 2 && nested3 == 0 && clear_armed == 0;
        if (!result) fprintf(stderr, "\n  collect %lld, nested %lld\n", (long long)rv, (long long)nested3);
    }
    CHECK("reentrant clear: A and B freed once; the victim it dropped and its acyclic temporary freed during the collection",
          freed_once_id(ida) && freed_once_id(idb) && freed_once_id(victim_id) && victim == NULL && freed_once_id(temp_ids[2]));
    CHECK_BODY("reentrant clear: its failure reported once (\"Exception ignored in tp_clear of <RNode 0x...>\"), nothing else") {
        result = err3_callback == 1 && err3_total == 1 && strstr(err3_msgs[0], "Exception ignored in tp_clear of <RNode 0x") != NULL;
        if (!result) fprintf(stderr, "\n  %ld reports: %s\n", err3_total, err3_msgs[0]);
    }
    CHECK("reentrant clear: phn_validate() == PHN_OK", phn_validate() == PHN_OK);
    CHECK_BODY("reentrant clear: its temporary cycle was not part of the running collection: alive, in generation 0, its weakref resolves") {
        phn_object* out = NULL;
        result = temps_state(0, 2, 0) && phn_weakref_get_ref(kept_wr[0], &out) == 1 && out != NULL && gc_in_generation(out, 0) &&
                 count_cb_calls[0] == 0;
        PHN_XDECREF(out);
    }
    rv = phn_gc_collect(2);
    CHECK("reentrant clear: the next collect() returns 2, frees the temporary cycle, its weakref's callback ran once (dead inside)",
          rv == 2 && temps_state(0, 2, 1) && count_cb_calls[0] == 1 && phn_validate() == PHN_OK);
    end3();

    /* --- a weakref callback run by the collector (X self-cycle, W held by the test) */
    start3();
    Node* x = new_node(T_wnode3);
    int64_t idx = x->id;
    node_set(x, 0, x);
    phn_object* w = phn_weakref_new(O(x), reent_wr_cb, NULL);
    PHN_DECREF(x);
    wr_armed = 1;
    fail_next = 1;
    inner_dead_ok = -1;
    rv = phn_gc_collect(2);
    CHECK_BODY("reentrant weakref callback (collector): collect() returns 1; the callback ran once, saw W dead, its collect() returned 0") {
        result = rv == 1 && glog_count(EV_WEAKCB, -1) == 1 && inner_dead_ok == 1 && nested3 == 0;
        if (!result) fprintf(stderr, "\n  collect %lld, %d callback calls, dead inside %d, nested %lld\n", (long long)rv,
                             glog_count(EV_WEAKCB, -1), inner_dead_ok, (long long)nested3);
    }
    CHECK("reentrant weakref callback (collector): X freed once, the victim and the acyclic temporary freed",
          freed_once_id(idx) && freed_once_id(victim_id) && freed_once_id(temp_ids[2]));
    CHECK_BODY("reentrant weakref callback (collector): its failure reported once (\"Exception ignored on calling weakref callback\")") {
        result = err3_callback == 1 && err3_total == 1 && strstr(err3_msgs[0], "Exception ignored on calling weakref callback") != NULL;
        if (!result) fprintf(stderr, "\n  %ld reports: %s\n", err3_total, err3_msgs[0]);
    }
    CHECK("reentrant weakref callback (collector): phn_validate() == PHN_OK, the temporary cycle alive",
          phn_validate() == PHN_OK && temps_state(0, 2, 0));
    rv = phn_gc_collect(2);
    CHECK("reentrant weakref callback (collector): next collect() returns 2, the temporaries' weakref callback ran once",
          rv == 2 && temps_state(0, 2, 1) && count_cb_calls[0] == 1 && phn_validate() == PHN_OK);
    PHN_DECREF(w);
    end3();

    /* --- a weakref callback run by reference-count death: its collect() really collects */
    start3();
    x = new_node(T_wnode3);
    idx = x->id;
    w = phn_weakref_new(O(x), reent_wr_cb, NULL);
    wr_armed = 1;
    fail_next = 0;
    inner_dead_ok = -1;
    PHN_DECREF(x);
    CHECK_BODY("reentrant weakref callback (refcount): X freed; the callback ran once, saw W dead; its collect(2) collected its own temporary cycle (returned 2)") {
        result = freed_once_id(idx) && glog_count(EV_WEAKCB, -1) == 1 && inner_dead_ok == 1 && nested3 == 2 && temps_state(0, 2, 1) &&
                 freed_once_id(temp_ids[2]) && freed_once_id(victim_id);
        if (!result) fprintf(stderr, "\n  nested collect %lld\n", (long long)nested3);
    }
    CHECK("reentrant weakref callback (refcount): the temporary's weakref callback ran once inside that collection; no report; valid",
          count_cb_calls[0] == 1 && err3_total == 0 && phn_validate() == PHN_OK);
    PHN_DECREF(w);
    end3();

    /* --- a gc callback: at start (its temporaries join the collection) and at stop */
    start3();
    Node* p = new_node(T_node3);
    Node* q = new_node(T_node3);
    int64_t idp = p->id, idq = q->id;
    node_set(p, 0, q);
    node_set(q, 0, p);
    PHN_DECREF(p);
    PHN_DECREF(q);
    phn_gc_add_callback(reent_gc_cb, NULL);
    gc_armed_start = gc_armed_stop = 1;
    stop_collected3 = -1;
    nested_stop3 = -12345;
    rv = phn_gc_collect(2);
    CHECK_BODY("reentrant gc callback: collect() returns 4 (P, Q and the start callback's cycle); stop saw 4; both collect() calls returned 0") {
        result = rv == 4 && stop_collected3 == 4 && nested3 == 0 && nested_stop3 == 0;
        if (!result) fprintf(stderr, "\n  collect %lld, stop info %lld, nested %lld / %lld\n", (long long)rv, (long long)stop_collected3,
                             (long long)nested3, (long long)nested_stop3);
    }
    CHECK("reentrant gc callback: P, Q, the start cycle and the acyclic temporaries freed once; the victim freed; "
          "the start cycle's weakref callback ran once",
          freed_once_id(idp) && freed_once_id(idq) && temps_state(0, 3, 1) && freed_once_id(temp_ids[5]) && freed_once_id(victim_id) &&
              count_cb_calls[0] == 1);
    CHECK_BODY("reentrant gc callback: both failures reported (\"Exception ignored in garbage collector callback (phase \\\"start\\\")\", \"stop\")") {
        result = err3_callback == 2 && err3_total == 2 && strstr(err3_msgs[0], "garbage collector callback (phase \"start\")") != NULL &&
                 strstr(err3_msgs[1], "garbage collector callback (phase \"stop\")") != NULL;
        if (!result) fprintf(stderr, "\n  %ld reports: %s | %s\n", err3_total, err3_msgs[0], err3_msgs[1]);
    }
    CHECK("reentrant gc callback: phn_validate() == PHN_OK; the stop callback's cycle alive, its weakref resolves",
          phn_validate() == PHN_OK && temps_state(3, 5, 0) && count_cb_calls[1] == 0);
    phn_gc_remove_callback(reent_gc_cb, NULL);
    rv = phn_gc_collect(2);
    CHECK("reentrant gc callback: next collect() returns 2 (the stop callback's cycle), its weakref callback ran once",
          rv == 2 && temps_state(3, 5, 1) && count_cb_calls[1] == 1 && phn_validate() == PHN_OK);
    end3();
    phn_set_error_handler(NULL, NULL);
}

/* ================================================================== part 2: fault cases */

static phn_type *TA, *TB;
static void fault_types(void) {
    TA = node_type("AHolder", 0);
    TB = node_type("BNode", 0);
}

/* (a) A's traverse reaches B, freed: collect() must die with visit_decref's assertion. */
static int child_freed_traverse(void) {
    fault_types();
    gc_scenario_start();
    Node* a = new_node(TA);
    Node* b = new_node(TB);
    a->slot[0] = O(b);   /* borrowed: no reference */
    printf("A=%lx\nB=%lx\n", (unsigned long)U(a), (unsigned long)U(b));
    fflush(stdout);
    PHN_DECREF(b);
    printf("B freed %d\n", glog_count(EV_FREE, -1));
    fflush(stdout);
    int64_t r = phn_gc_collect(2);
    printf("survived: collect returned %lld\n", (long long)r);
    fflush(stdout);
    return 0;
}

/* (b) phn_gc_track of A whose traverse reaches B, freed. */
static int child_freed_track(void) {
    fault_types();
    gc_scenario_start();
    Node* a = (Node*)phn_gc_new(TA);   /* allocated before B is freed: cannot reuse its memory */
    a->id = next_node_id++;
    Node* b = new_node(TB);
    a->slot[0] = O(b);
    printf("A=%lx\nB=%lx\n", (unsigned long)U(a), (unsigned long)U(b));
    fflush(stdout);
    PHN_DECREF(b);
    printf("B freed %d\n", glog_count(EV_FREE, -1));
    fflush(stdout);
    int32_t r = phn_gc_track(O(a));
    printf("survived: track returned %d\n", r);
    fflush(stdout);
    return 0;
}

/* (d) a count driven below zero through phn_decref. */
static int child_negative(void) {
    fault_types();
    gc_scenario_start();
    Node* a = new_node(TA);
    printf("A=%lx\n", (unsigned long)U(a));
    fflush(stdout);
    phn_set_refcnt(O(a), 0);
    phn_decref(O(a));
    printf("survived\n");
    fflush(stdout);
    return 0;
}

static int fatal_calls;
static char fatal_msg[2048];
static void PHN_CALL on_fatal(void* ctx, const char* message) {
    (void)ctx;
    fatal_calls++;
    snprintf(fatal_msg, sizeof fatal_msg, "%s", message ? message : "");
}

static int64_t tracked_total3(void) { return phn_gc_get_objects(-1, NULL, 0); }

/* (c) the fatal handler returns: the collection / the tracking is abandoned, the lists stay
 * valid, and once the slot is fixed everything is collected normally. */
static int child_handler_suite(void) {
    phn_init();
    const char* name = phn_allocator_name();
    CHECK_BODY("handler child: PYHEAPNATIVE_ALLOCATOR=debug installed the debug hooks") {
        result = name != NULL && strstr(name, "debug") != NULL;
        if (!result) fprintf(stderr, "\n  allocator %s\n", name ? name : "(custom)");
    }
    fault_types();
    gc_scenario_start();
    phn_set_fatal_handler(on_fatal, NULL);

    /* collect: A <-> C garbage, A.slot0 = freed B (borrowed) */
    Node* a = new_node(TA);
    Node* c = new_node(TB);
    Node* b = new_node(TB);
    int64_t ida = a->id, idc = c->id, idb = b->id;
    node_set(a, 1, c);
    node_set(c, 0, a);
    a->slot[0] = O(b);
    PHN_DECREF(b);
    CHECK("handler (collect): B freed by its DECREF", glog_count(EV_FREE, idb) == 1);
    PHN_DECREF(a);
    PHN_DECREF(c);
    int64_t tracked_before = tracked_total3();
    glog_reset();
    fatal_calls = 0;
    phn_clear_error();
    stderr_capture cap;
    int capped = stderr_capture_begin(&cap) == 0;
    int64_t r = phn_gc_collect(2);
    int32_t code = phn_last_error_code();
    char* err = capped ? stderr_capture_end(&cap) : strdup("");
    CHECK_BODY("handler (collect): called once with \"visit_decref: Assertion \\\"!_PyObject_IsFreed(op)\\\" failed\"") {
        result = fatal_calls == 1 && strstr(fatal_msg, "visit_decref: Assertion \"!_PyObject_IsFreed(op)\" failed") != NULL;
        if (!result) fprintf(stderr, "\n  %d calls, message \"%s\"\n", fatal_calls, fatal_msg);
    }
    CHECK_BODY("handler (collect): the object dump of A went to stderr") {
        char addr[64];
        snprintf(addr, sizeof addr, "object address  : 0x%lx", (unsigned long)U(a));
        result = strstr(err, addr) != NULL && strstr(err, "object type name: AHolder") != NULL;
        if (!result) echo_prefixed("captured", err);
    }
    free(err);
    CHECK_BODY("handler (collect): abandoned: phn_gc_collect returns a negative status (PHN_ECORRUPT)") {
        result = r < 0 && code == PHN_ECORRUPT;
        if (!result) fprintf(stderr, "\n  collect %lld, last error %d\n", (long long)r, code);
    }
    CHECK("handler (collect): phn_validate() == PHN_OK afterwards", phn_validate() == PHN_OK);
    CHECK("handler (collect): nothing cleared or freed; A and C tracked, listed, counts 1 / 1, links intact",
          gcount[EV_CLEAR] == 0 && gcount[EV_DEALLOC] == 0 && phn_gc_is_tracked(O(a)) == 1 && phn_gc_is_tracked(O(c)) == 1 &&
              gc_in_generation(a, -1) && gc_in_generation(c, -1) && PHN_REFCNT(a) == 1 && PHN_REFCNT(c) == 1 &&
              a->slot[1] == O(c) && c->slot[0] == O(a) && tracked_total3() == tracked_before);
    r = phn_gc_collect(2);
    CHECK("handler (collect): a second collection diagnoses it again, is abandoned again, the lists stay valid",
          fatal_calls == 2 && r < 0 && gcount[EV_DEALLOC] == 0 && phn_validate() == PHN_OK);
    a->slot[0] = NULL;   /* fixed */
    r = phn_gc_collect(2);
    CHECK_BODY("handler (collect): once the slot is fixed, collect() returns 2 and frees A and C once each") {
        result = r == 2 && glog_count(EV_FREE, ida) == 1 && glog_count(EV_FREE, idc) == 1 && fatal_calls == 2 &&
                 phn_validate() == PHN_OK && tracked_total3() == tracked_before - 2;
        if (!result) fprintf(stderr, "\n  collect %lld, fatal calls %d\n", (long long)r, fatal_calls);
    }

    /* track: A (phn_gc_new) with A.slot0 = freed B */
    glog_reset();
    Node* t = (Node*)phn_gc_new(TA);
    t->id = next_node_id++;
    Node* d = new_node(TB);
    t->slot[0] = O(d);
    PHN_DECREF(d);
    fatal_calls = 0;
    capped = stderr_capture_begin(&cap) == 0;
    int32_t tr = phn_gc_track(O(t));
    err = capped ? stderr_capture_end(&cap) : strdup("");
    CHECK_BODY("handler (track): called once with \"PyObject_GC_Track() object is not valid\"; the call fails, A stays untracked") {
        result = fatal_calls == 1 && strstr(fatal_msg, "PyObject_GC_Track() object is not valid") != NULL && tr < 0 &&
                 phn_gc_is_tracked(O(t)) == 0 && phn_validate() == PHN_OK;
        if (!result) fprintf(stderr, "\n  %d calls, track %d, message \"%s\"\n", fatal_calls, tr, fatal_msg);
    }
    free(err);
    t->slot[0] = NULL;
    tr = phn_gc_track(O(t));
    CHECK("handler (track): once fixed, tracking succeeds", tr == PHN_OK && phn_gc_is_tracked(O(t)) == 1 && phn_validate() == PHN_OK);
    int64_t idt = t->id;
    PHN_DECREF(t);
    CHECK("handler (track): and it is freed by its DECREF", glog_count(EV_FREE, idt) == 1 && phn_validate() == PHN_OK);

    /* decref below zero */
    glog_reset();
    Node* n = new_node(TA);
    int64_t idn = n->id;
    fatal_calls = 0;
    phn_set_refcnt(O(n), 0);
    capped = stderr_capture_begin(&cap) == 0;
    phn_decref(O(n));
    err = capped ? stderr_capture_end(&cap) : strdup("");
    CHECK_BODY("handler (negative count): called once with \"_Py_NegativeRefcount: Assertion failed: object has negative ref count\"; "
               "the count stays 0, nothing freed") {
        result = fatal_calls == 1 && strstr(fatal_msg, "_Py_NegativeRefcount: Assertion failed: object has negative ref count") != NULL &&
                 PHN_REFCNT(n) == 0 && gcount[EV_DEALLOC] == 0;
        if (!result) fprintf(stderr, "\n  %d calls, count %ld, message \"%s\"\n", fatal_calls, (long)PHN_REFCNT(n), fatal_msg);
    }
    free(err);
    phn_set_refcnt(O(n), 1);
    phn_decref(O(n));
    CHECK("handler (negative count): with the count restored the object is freed normally",
          glog_count(EV_FREE, idn) == 1 && phn_validate() == PHN_OK);
    phn_set_fatal_handler(NULL, NULL);
    return print_test_summary();
}

typedef struct fatal_case {
    const char* mode;
    const char* what;
    const char* patterns[4];   /* regexes the child's stderr must match ("%s" = A's address, "%b" = B's) */
} fatal_case;

static const fatal_case FATAL_CASES[] = {
    { "--freed-traverse", "a traverse reaching a freed object, collect(2)",
      { "Fatal error: visit_decref: Assertion \"!_PyObject_IsFreed\\(op\\)\" failed",
        "visit_decref: Assertion \"!_PyObject_IsFreed\\(op\\)\" failed: [^\n]*<AHolder 0x%s>[^\n]*reached a freed object at 0x%b",
        "object address  : 0x%s\nobject refcount : 1\nobject type     : 0x[0-9a-f]+\nobject type name: AHolder", NULL } },
    { "--freed-track", "phn_gc_track of an object whose traverse reaches a freed object",
      { "Fatal error: PyObject_GC_Track: Assertion failed: PyObject_GC_Track\\(\\) object is not valid",
        "object is not valid: [^\n]*<AHolder 0x%s> refers to a freed object at 0x%b",
        "object address  : 0x%s\nobject refcount : 1\nobject type     : 0x[0-9a-f]+\nobject type name: AHolder", NULL } },
    { "--negative", "phn_set_refcnt(op, 0) then phn_decref",
      { "Fatal error: [^\n]*:[0-9]+: _Py_NegativeRefcount: Assertion failed: object has negative ref count",
        "object address  : 0x%s\nobject refcount : 0\nobject type     : 0x[0-9a-f]+\nobject type name: AHolder", NULL, NULL } },
};

static void expand(char* dst, size_t cap, const char* pat, const char* a, const char* b) {
    size_t k = 0;
    for (const char* q = pat; *q && k + 1 < cap; q++) {
        const char* ins = NULL;
        if (q[0] == '%' && q[1] == 's') ins = a;
        else if (q[0] == '%' && q[1] == 'b') ins = b;
        if (ins) {
            for (const char* i = ins; *i && k + 1 < cap; i++) dst[k++] = *i;
            q++;
        } else {
            dst[k++] = *q;
        }
    }
    dst[k] = '\0';
}

static void run_fatal_case(const fatal_case* c) {
    static const char* const env[] = { "PYHEAPNATIVE_ALLOCATOR=debug", NULL };
    child_result r;
    if (run_self(c->mode, NULL, env, &r) != 0) {
        memset(&r, 0, sizeof r);
        r.out = strdup("");
        r.err = strdup("");
    }
    char name[1024];
    snprintf(name, sizeof name, "fatal %s (debug allocator): %s: SIGABRT, the call does not return", c->mode, c->what);
    CHECK_BODY(name) {
        result = r.signaled && r.signo == SIGABRT && strstr(r.out, "survived") == NULL &&
                 (strcmp(c->mode, "--negative") == 0 || strstr(r.out, "B freed 1") != NULL);
        if (!result) {
            fprintf(stderr, "\n  child ");
            describe_child(&r);
            echo_prefixed("out", r.out);
            echo_prefixed("err", r.err);
        }
    }
    char A[64], B[64];
    child_value(r.out, "A", A, sizeof A);
    child_value(r.out, "B", B, sizeof B);
    for (int i = 0; i < 4 && c->patterns[i]; i++) {
        char pat[600], shown[700];
        expand(pat, sizeof pat, c->patterns[i], A, B);
        size_t k = 0;
        for (const char* q = pat; *q && k + 3 < sizeof shown; q++) {
            if (*q == '\n') { shown[k++] = '\\'; shown[k++] = 'n'; }
            else shown[k++] = *q;
        }
        shown[k] = '\0';
        snprintf(name, sizeof name, "fatal %s: stderr matches /%s/", c->mode, shown);
        CHECK_BODY(name) {
            result = regex_search(pat, r.err) == 1;
            if (!result) echo_prefixed("err", r.err);
        }
    }
    child_result_free(&r);
}

static void test_fault_cases(void) {
    for (size_t i = 0; i < sizeof FATAL_CASES / sizeof FATAL_CASES[0]; i++) run_fatal_case(&FATAL_CASES[i]);
    static const char* const env[] = { "PYHEAPNATIVE_ALLOCATOR=debug", NULL };
    run_child_suite("--handler", env);
}

/* ================================================================== the stress in debug mode */

/* The stress again with the debug hooks above the free hook: freed memory is poisoned,
 * double frees and overruns of object blocks are fatal, and the collector checks every
 * referent for a freed object (so its new fatal checks must never fire on a valid heap). */
static int child_stress_debug(void) {
    const char* seed_text = getenv("PHN_GC_STRESS_SEED");
    seed = seed_text ? strtoull(seed_text, NULL, 0) : 1;
    trace_on = getenv("PHN_GC_STRESS_TRACE") != NULL;
    read_steps();
    rng = seed ^ 0x5bd1e995u;
    fprintf(stderr, "debug-mode stress, seed %llu\n", (unsigned long long)seed);
    phn_init();
    stress_setup();
    hook_on();
    hook_keep = 1;
    dbg_extra = 16;
    CHECK("debug stress: phn_setup_debug_hooks over the free hook", phn_setup_debug_hooks() == PHN_OK);
    test_stress_main("debug stress", MAIN_STEPS);
    test_stress_resurrection("debug resurrection", RES_STEPS);

    /* the collector's freed-object check was active all along */
    fault_types();
    gc_scenario_start();
    Node* a = new_node(TA);
    Node* b = new_node(TB);
    a->slot[0] = O(b);
    PHN_DECREF(b);
    phn_set_fatal_handler(on_fatal, NULL);
    stderr_capture cap;
    int capped = stderr_capture_begin(&cap) == 0;
    int64_t r = phn_gc_collect(2);
    char* err = capped ? stderr_capture_end(&cap) : strdup("");
    free(err);
    phn_set_fatal_handler(NULL, NULL);
    CHECK("debug stress: the collector's freed-object check was on (a dangling slot is diagnosed, the collection abandoned)",
          r < 0 && fatal_calls == 1 && strstr(fatal_msg, "_PyObject_IsFreed") != NULL);
    a->slot[0] = NULL;
    PHN_DECREF(a);
    CHECK("debug stress: valid at the end", phn_validate() == PHN_OK);
    return print_test_summary();
}

/* ================================================================== main */

int main(int argc, char** argv) {
    alarm(300);
    if (argc > 1) {
        if (strcmp(argv[1], "--freed-traverse") == 0) return child_freed_traverse();
        if (strcmp(argv[1], "--freed-track") == 0) return child_freed_track();
        if (strcmp(argv[1], "--negative") == 0) return child_negative();
        if (strcmp(argv[1], "--handler") == 0) return child_handler_suite();
        if (strcmp(argv[1], "--stress-debug") == 0) return child_stress_debug();
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    phn_init();
    const char* s = getenv("PHN_GC_STRESS_SEED");
    seed = s ? strtoull(s, NULL, 0) : ((uint64_t)time(NULL) * 2654435761u) ^ (uint64_t)getpid();
    rng = seed;
    trace_on = getenv("PHN_GC_STRESS_TRACE") != NULL;
    read_steps();
    fprintf(stderr, "seed %llu (rerun with PHN_GC_STRESS_SEED=%llu)\n", (unsigned long long)seed, (unsigned long long)seed);
    test_stress_main("stress", MAIN_STEPS);
    test_stress_resurrection("resurrection", RES_STEPS);
    test_reentrant_callbacks();
    test_fault_cases();
    {   /* the stress again, with the debug hooks (same seed, another sequence) */
        char seed_env[64];
        snprintf(seed_env, sizeof seed_env, "PHN_GC_STRESS_SEED=%llu", (unsigned long long)seed);
        const char* const env[] = { seed_env, NULL };
        run_child_suite("--stress-debug", env);
    }
    if (failed) fprintf(stderr, "\nseed %llu\n", (unsigned long long)seed);
    return print_test_summary();
}
