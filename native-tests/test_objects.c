/* test_objects.c - objects, reference counting, deallocation, tracking and the GIL
 * (phn_object.h, phn_gc.h, phn_gil.h): spec-gc.md §16.1 and §16.2, scenarios 1-13, each
 * with callback types (gc_fixture.h's Node) and, where it makes sense, with types described
 * by their reference layout only (no callbacks: the library traverses, clears and
 * deallocates), plus variable-size objects, bad input, fatal paths and threads.
 *
 * This file is compiled with PHN_REF_DEBUG (defined below, before the header): every
 * PHN_DECREF checks for a negative count (scenario 6).
 *
 * In this process:
 *   GIL      phn_gil_ensure / release / held: recursion, errors, mutual exclusion
 *   1-6      lifecycle, cascade, CLEAR/SETREF ordering, immortal objects, SET_REFCNT
 *   10-13    tracking, free while tracked, resize, count0
 *   var      phn_object_new_var with PHN_TPFLAGS_ITEMS_ARE_REFS, ob_size, cycles through items
 *   bad      bad type specs, NULL objects, bad sizes: NULL / PHN_EINVAL, nothing changed
 *   fatal    with a fatal handler that returns: double track, resize of a tracked object
 * Child processes (this binary again, see run_self):
 *   --deep          7 (10^6-deep chains, callback / [prev, leaf] / layout / mixed, trashcan
 *                   depth bound), 8 (150-deep chains with finalizers that collect), 9 (rings
 *                   of 10^6, callback and layout)
 *   --small-stack   10^6-deep chains and a 10^6 ring freed on a pthread with a 256 KiB stack
 *   --threads       4 threads holding the GIL around batches (cycles of Nodes, layout nodes
 *                   and var objects, a shared structure, collections; automatic collection
 *                   on), 2 threads calling the library without phn_gil_ensure
 *   --fatal <case>  default fatal handler: SIGABRT and the "Fatal error: <message>" line
 */
#define PHN_REF_DEBUG 1

#include "testhelper.h"
#include "phn_test_common.h"
#include "gc_fixture.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#define MILLION 1000000
#define DEPTH_MARGIN 5   /* dealloc frames tolerated above PHN_TRASHCAN_DEPTH */

/* ------------------------------------------------------------------ types */

static phn_type* NT;     /* Node: GC, callbacks */
static phn_type* FT;     /* FNode: Node with a finalizer */
static phn_type* WNT;    /* WNode: Node with PHN_TPFLAGS_WEAKREFABLE */
static phn_type* NGT;    /* non-GC Node with callbacks (dealloc logged) */
static phn_type* LT;     /* LNode: GC, layout only */
static phn_type* LNT;    /* LNode without GC: layout only */
static phn_type* LEAF;   /* non-GC, no references */
static phn_type* VT;     /* GC var type, ITEMS_ARE_REFS, basicsize 24 */
static phn_type* VT2;    /* GC var type, ITEMS_ARE_REFS, basicsize 32 with one field at 24 */
static phn_type* NVT;    /* non-GC var type, ITEMS_ARE_REFS */
static phn_type* VB;     /* non-GC var type of bytes (itemsize 1) */
static phn_type* OBS;    /* GC, layout traverse, dealloc callback that reads a watched field */

static phn_type* make_type(const char* name, uint32_t flags, int64_t basicsize, int64_t itemsize,
                           const uint32_t* offsets, uint32_t noffsets, phn_destructor dealloc) {
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = (uint32_t)sizeof spec;
    spec.name = name;
    spec.flags = flags;
    spec.basicsize = basicsize;
    spec.itemsize = itemsize;
    spec.ref_offsets = offsets;
    spec.ref_count = noffsets;
    spec.dealloc = dealloc;
    phn_type* t = phn_type_new(&spec);
    if (t == NULL) {
        fprintf(stderr, "make_type(%s): %s\n", name, phn_last_error_message());
        abort();
    }
    return t;
}

/* the items of a var object of a type with that basicsize */
static phn_object** items_of(void* op, int64_t basicsize) { return (phn_object**)((char*)op + basicsize); }

/* scenario 3: a dealloc that records the value of a watched field */
static phn_object* const OBS_UNSET = (phn_object*)(uintptr_t)0x5151;
static phn_object** obs_watch;
static phn_object* obs_seen = OBS_UNSET;
static int obs_calls;

static void PHN_CALL obs_dealloc(phn_object* self) {
    obs_calls++;
    obs_seen = obs_watch ? *obs_watch : NULL;
    phn_gc_untrack(self);
    Node* n = (Node*)self;
    for (int i = 0; i < NODE_SLOTS; i++) PHN_CLEAR(n->slot[i]);
    phn_object_free(self);
}

static const uint32_t node_offsets[NODE_SLOTS] = {
    offsetof(Node, slot[0]), offsetof(Node, slot[1]), offsetof(Node, slot[2]), offsetof(Node, slot[3])
};

static void setup_types(void) {
    static const uint32_t vt2_off[1] = {24};
    NT = node_type("Node", 0);
    WNT = node_type("WNode", NV_WEAK);
    FT = node_type("FNode", NV_FIN);
    NGT = node_type("NGNode", NV_NOGC);
    LT = layout_node_type("LNode", PHN_TPFLAGS_HAVE_GC);
    LNT = layout_node_type("LNodeNoGC", 0);
    LEAF = leaf_type();
    VT = make_type("VarRefs", PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_ITEMS_ARE_REFS, 24, 8, NULL, 0, NULL);
    VT2 = make_type("VarRefs2", PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_ITEMS_ARE_REFS, 32, 8, vt2_off, 1, NULL);
    NVT = make_type("VarRefsNoGC", PHN_TPFLAGS_ITEMS_ARE_REFS, 24, 8, NULL, 0, NULL);
    VB = make_type("VarBytes", 0, 24, 1, NULL, 0, NULL);
    OBS = make_type("Observer", PHN_TPFLAGS_HAVE_GC, (int64_t)sizeof(Node), 0, node_offsets, NODE_SLOTS, obs_dealloc);
}

/* Node types whose finalizer and dealloc also count per id (scenario 8), registered in the
 * fixture's table so that node_dealloc knows their variant. */
#define TALLY_MAX 16384
static int64_t tally_base;
static int tally_fin[TALLY_MAX], tally_dealloc[TALLY_MAX], tally_out_of_range;

static void tally(int* arr, int64_t id) {
    int64_t i = id - tally_base;
    if (i < 0 || i >= TALLY_MAX) tally_out_of_range++;
    else arr[i]++;
}
static int32_t PHN_CALL tally_finalize(phn_object* self) {
    tally(tally_fin, ((Node*)self)->id);
    return node_finalize(self);
}
static void PHN_CALL tally_node_dealloc(phn_object* self) {
    tally(tally_dealloc, ((Node*)self)->id);
    node_dealloc(self);
}
static phn_type* tally_type(const char* name, unsigned variant) {
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = (uint32_t)sizeof spec;
    spec.name = name;
    spec.flags = PHN_TPFLAGS_HAVE_GC;
    spec.basicsize = (int64_t)sizeof(Node);
    spec.traverse = node_traverse;
    spec.clear = node_clear;
    spec.finalize = (variant & NV_FIN) ? tally_finalize : NULL;
    spec.dealloc = tally_node_dealloc;
    phn_type* t = phn_type_new(&spec);
    if (t == NULL) abort();
    node_types[node_type_count].type = t;
    node_types[node_type_count].variant = variant;
    node_type_count++;
    return t;
}
static void tally_reset(void) {
    tally_base = next_node_id;
    memset(tally_fin, 0, sizeof tally_fin);
    memset(tally_dealloc, 0, sizeof tally_dealloc);
    tally_out_of_range = 0;
}

/* ------------------------------------------------------------------ small helpers */

static int64_t nobjs(void) { return phn_gc_get_objects(-1, NULL, 0); }
static int32_t count0(void) {
    int32_t c[3] = {-1, -1, -1};
    phn_gc_get_count(c);
    return c[0];
}
static void print_count(void) {
    int32_t c[3] = {-1, -1, -1};
    phn_gc_get_count(c);
    fprintf(stderr, "\n  get_count() = (%d, %d, %d)\n", c[0], c[1], c[2]);
}
static int has_err(int32_t code, const char* word) {
    int r = phn_last_error_code() == code && (word == NULL || contains_ci(phn_last_error_message(), word));
    if (!r)
        fprintf(stderr, "\n  last error: code %d, message \"%s\" (expected code %d%s%s)\n", phn_last_error_code(),
                phn_last_error_message(), code, word ? " naming " : "", word ? word : "");
    return r;
}
static long ev(int event) { return gcount[event]; }
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
/* a new object of a fixed type, or abort */
static phn_object* new_obj(phn_type* t) {
    phn_object* o = phn_object_new(t);
    if (o == NULL) {
        fprintf(stderr, "phn_object_new: %s\n", phn_last_error_message());
        abort();
    }
    ((Node*)o)->id = next_node_id++;   /* every fixed type of this file has Node's shape */
    return o;
}
static phn_object* new_var(phn_type* t, int64_t n) {
    phn_object* o = phn_object_new_var(t, n);
    if (o == NULL) {
        fprintf(stderr, "phn_object_new_var: %s\n", phn_last_error_message());
        abort();
    }
    return o;
}

/* a fatal handler that returns */
static int fatal_calls;
static char fatal_msg[1024];
static void PHN_CALL on_fatal(void* ctx, const char* message) {
    (void)ctx;
    fatal_calls++;
    snprintf(fatal_msg, sizeof fatal_msg, "%s", message ? message : "(null)");
}
static void fatal_catch(void) {
    fatal_calls = 0;
    fatal_msg[0] = '\0';
    phn_set_fatal_handler(on_fatal, NULL);
}
static void fatal_restore(void) { phn_set_fatal_handler(NULL, NULL); }

/* ================================================================== GIL */

static volatile int gil_thread_done;
static volatile int gil_thread_held_before, gil_thread_held_inside;
static int64_t gil_thread_collected;

static void* gil_thread(void* arg) {
    (void)arg;
    gil_thread_held_before = phn_gil_held();
    gil_thread_collected = phn_gc_collect(0);   /* takes the GIL itself: waits for main */
    int32_t st = phn_gil_ensure();
    gil_thread_held_inside = phn_gil_held() == 1 && st == PHN_GIL_UNLOCKED;
    phn_gil_release(st);
    __atomic_store_n(&gil_thread_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* An OBJ allocator over the saved one whose calloc fails once when armed (the "bad" cases). */
static phn_allocator fail_once_inner;
static int fail_once_armed;
static long fail_once_calls;
static void* PHN_CALL fail_once_malloc(void* ctx, size_t n) { (void)ctx; return fail_once_inner.malloc(fail_once_inner.ctx, n); }
static void* PHN_CALL fail_once_calloc(void* ctx, size_t k, size_t n) {
    (void)ctx;
    fail_once_calls++;
    if (fail_once_armed) {
        fail_once_armed = 0;
        return NULL;
    }
    return fail_once_inner.calloc(fail_once_inner.ctx, k, n);
}
static void* PHN_CALL fail_once_realloc(void* ctx, void* p, size_t n) { (void)ctx; return fail_once_inner.realloc(fail_once_inner.ctx, p, n); }
static void PHN_CALL fail_once_free(void* ctx, void* p) { (void)ctx; fail_once_inner.free(fail_once_inner.ctx, p); }

/* A thread making, untracking, freeing and deallocating objects while main holds the GIL:
 * each call must wait for it (the C paths see it busy and leave the call to the managed side,
 * which waits), then do its work. */
static phn_object* gil_objects[4];   /* made by main: untracked by the thread, freed, dealloc'ed */
static phn_object* gil_made[2];       /* made by the thread: phn_object_new, phn_gc_new */
static volatile int gil_objects_started, gil_objects_done;
static int32_t gil_objects_rc[2];

static void* gil_objects_thread(void* arg) {
    (void)arg;
    __atomic_store_n(&gil_objects_started, 1, __ATOMIC_SEQ_CST);
    gil_made[0] = phn_object_new(NT);
    gil_made[1] = phn_gc_new(NT);
    gil_objects_rc[0] = phn_gc_untrack(gil_objects[0]);
    gil_objects_rc[1] = phn_object_free(gil_objects[1]);   /* tracked: unlinked, then freed */
    PHN_DECREF(gil_objects[2]);                           /* count 1 -> 0: phn_dealloc */
    __atomic_store_n(&gil_objects_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_gil(void) {
    CHECK_BODY("GIL: ensure -> UNLOCKED, held; ensure again -> LOCKED (recursive); release in reverse") {
        int32_t s1 = phn_gil_ensure();
        int h1 = phn_gil_held();
        int32_t s2 = phn_gil_ensure();
        int h2 = phn_gil_held();
        int32_t r2 = phn_gil_release(s2);
        int h3 = phn_gil_held();
        int32_t r1 = phn_gil_release(s1);
        int h4 = phn_gil_held();
        result = s1 == PHN_GIL_UNLOCKED && h1 == 1 && s2 == PHN_GIL_LOCKED && h2 == 1 && r2 == PHN_OK && h3 == 1 &&
                 r1 == PHN_OK && h4 == 0;
        if (!result)
            fprintf(stderr, "\n  s1 %d h1 %d s2 %d h2 %d r2 %d h3 %d r1 %d h4 %d\n", s1, h1, s2, h2, r2, h3, r1, h4);
    }
    CHECK_BODY("GIL: release without holding it -> PHN_ESTATE") {
        phn_clear_error();
        int32_t r = phn_gil_release(PHN_GIL_UNLOCKED);
        int32_t r2 = phn_gil_release(PHN_GIL_LOCKED);
        result = r == PHN_ESTATE && r2 == PHN_ESTATE && phn_gil_held() == 0;
        if (!result) fprintf(stderr, "\n  got %d, %d\n", r, r2);
    }
    CHECK_BODY("GIL: release with a state that is neither value -> PHN_EINVAL, the lock is still held") {
        int32_t s = phn_gil_ensure();
        int32_t r = phn_gil_release(7);
        int32_t r2 = phn_gil_release(-1);
        int h = phn_gil_held();
        int32_t rf = phn_gil_release(s);
        result = s == PHN_GIL_UNLOCKED && r == PHN_EINVAL && r2 == PHN_EINVAL && h == 1 && rf == PHN_OK &&
                 phn_gil_held() == 0;
        if (!result) fprintf(stderr, "\n  ensure %d, release(7) %d, release(-1) %d, held %d, release %d\n", s, r, r2, h, rf);
    }
    CHECK_BODY("GIL: object calls work while holding it (recursive), and it is still held after them") {
        int32_t s = phn_gil_ensure();
        phn_object* o = phn_object_new(LEAF);
        phn_decref(o);
        int64_t c = phn_gc_collect(0);
        result = o != NULL && c >= 0 && phn_gil_held() == 1;
        phn_gil_release(s);
        result = result && phn_gil_held() == 0;
    }
    CHECK_BODY("GIL: a thread's phn_object_new, phn_gc_new, phn_gc_untrack, phn_object_free and phn_dealloc wait while "
               "this thread holds the GIL, then do their work (tracked and counted, untracked, freed, deallocated)") {
        gc_scenario_start();
        for (int i = 0; i < 3; i++) gil_objects[i] = new_obj(NT);
        int64_t n0 = nobjs();
        int32_t c0 = count0();
        uint64_t b0 = stats_now().allocated_blocks;
        int32_t s = phn_gil_ensure();
        gil_objects_started = gil_objects_done = 0;
        pthread_t th;
        int created = pthread_create(&th, NULL, gil_objects_thread, NULL) == 0;
        struct timespec d = {0, 1000 * 1000};
        while (created && !__atomic_load_n(&gil_objects_started, __ATOMIC_SEQ_CST)) nanosleep(&d, NULL);
        d.tv_nsec = 200 * 1000 * 1000;   /* then time for its first call to come back, if it did not wait */
        nanosleep(&d, NULL);
        int done_while_held = __atomic_load_n(&gil_objects_done, __ATOMIC_SEQ_CST);
        phn_gil_release(s);
        if (created) pthread_join(th, NULL);
        /* the thread: +2 objects made (1 tracked), -1 untracked, -1 freed, -1 deallocated */
        int64_t n1 = nobjs();
        int32_t c1 = count0();
        uint64_t b1 = stats_now().allocated_blocks;
        result = created && done_while_held == 0 && gil_objects_done == 1 && gil_made[0] != NULL && gil_made[1] != NULL
                 && phn_gc_is_tracked(gil_made[0]) == 1 && phn_gc_is_tracked(gil_made[1]) == 0
                 && phn_gc_is_tracked(gil_objects[0]) == 0 && gil_objects_rc[0] == PHN_OK && gil_objects_rc[1] == PHN_OK
                 && ev(EV_DEALLOC) == 1 && n1 == n0 + 1 - 3 && c1 == c0 + 1 - 2 && b1 == b0 + 2 - 2;
        if (!result)
            fprintf(stderr, "\n  created %d done while held %d done %d made %p %p rc %d %d deallocs %ld objects %lld -> %lld "
                            "count0 %d -> %d blocks %llu -> %llu\n", created, done_while_held, gil_objects_done,
                    (void*)gil_made[0], (void*)gil_made[1], gil_objects_rc[0], gil_objects_rc[1], ev(EV_DEALLOC),
                    (long long)n0, (long long)n1, c0, c1, (unsigned long long)b0, (unsigned long long)b1);
        PHN_DECREF(gil_objects[0]);
        PHN_DECREF(gil_made[0]);
        phn_object_free(gil_made[1]);
    }
    CHECK_BODY("GIL: a thread's phn_gc_collect waits while this thread holds the GIL, runs once it is released") {
        int32_t s = phn_gil_ensure();
        gil_thread_done = 0;
        pthread_t th;
        int created = pthread_create(&th, NULL, gil_thread, NULL) == 0;
        struct timespec d = {0, 300 * 1000 * 1000};
        nanosleep(&d, NULL);
        int done_while_held = __atomic_load_n(&gil_thread_done, __ATOMIC_SEQ_CST);
        phn_gil_release(s);
        if (created) pthread_join(th, NULL);
        result = created && done_while_held == 0 && gil_thread_done == 1 && gil_thread_held_before == 0 &&
                 gil_thread_held_inside == 1 && gil_thread_collected >= 0;
        if (!result)
            fprintf(stderr, "\n  created %d, done while held %d, done %d, held before %d, inside %d\n", created,
                    done_while_held, gil_thread_done, gil_thread_held_before, gil_thread_held_inside);
    }
}

/* ================================================================== §16.1 */

/* 1. basic lifecycle */
static void scenario1(void) {
    gc_scenario_start();
    int64_t base = nobjs();
    CHECK_BODY("1 [callback, macros]: refcount 1; INCREF 2; DECREF 1; DECREF: dealloc and free once; collect() 0") {
        Node* a = new_node(NT);
        int64_t id = a->id;
        int r1 = PHN_REFCNT(a) == 1 && phn_refcnt(&a->ob) == 1 && PHN_TYPE(a) == NT;
        PHN_INCREF(a);
        int r2 = PHN_REFCNT(a) == 2 && phn_refcnt(&a->ob) == 2;
        PHN_DECREF(a);
        int r3 = PHN_REFCNT(a) == 1 && glog_count(EV_DEALLOC, id) == 0;
        PHN_DECREF(a);
        int d = glog_count(EV_DEALLOC, id), f = glog_count(EV_FREE, id);
        int64_t c = phn_gc_collect(2);
        result = r1 && r2 && r3 && d == 1 && f == 1 && c == 0 && nobjs() == base;
        if (!result) fprintf(stderr, "\n  r1 %d r2 %d r3 %d dealloc %d free %d collect %lld\n", r1, r2, r3, d, f, (long long)c);
    }
    CHECK_BODY("1 [callback, phn_incref/phn_decref]: 1 -> 2 -> 1 -> dealloc and free once; collect() 0") {
        glog_reset();
        Node* a = new_node(NT);
        int64_t id = a->id;
        phn_incref(&a->ob);
        int r2 = phn_refcnt(&a->ob) == 2;
        phn_decref(&a->ob);
        int r1 = phn_refcnt(&a->ob) == 1 && glog_count(EV_DEALLOC, id) == 0;
        phn_decref(&a->ob);
        int d = glog_count(EV_DEALLOC, id), f = glog_count(EV_FREE, id);
        int64_t c = phn_gc_collect(2);
        result = r2 && r1 && d == 1 && f == 1 && c == 0 && nobjs() == base;
    }
    /* layout types: the default dealloc releases the references (observed through a Node) */
    phn_type* lts[2] = {LT, LNT};
    const char* names[2] = {"1 [layout, GC]: refcount 1 -> 2 -> 1; last DECREF frees it and releases its slot (the Node "
                            "it holds is deallocated once); objects and blocks back to the baseline; collect() 0",
                            "1 [layout, non-GC]: the same"};
    for (int k = 0; k < 2; k++) {
        /* warm-up of the same operation (the library may set things up on first use) */
        phn_object* w = new_obj(lts[k]);
        PHN_DECREF(w);
        glog_reset();
        CHECK_BODY(names[k]) {
            uint64_t blocks0 = stats_now().allocated_blocks;
            phn_object* l = new_obj(lts[k]);
            Node* n = new_node(NT);
            int64_t nid = n->id;
            node_set((Node*)l, 1, n);
            PHN_DECREF(n);
            int tracked = phn_gc_is_tracked(l) == (k == 0 ? 1 : 0);
            int r1 = PHN_REFCNT(l) == 1 && PHN_REFCNT(n) == 1;
            PHN_INCREF(l);
            int r2 = phn_refcnt(l) == 2;
            PHN_DECREF(l);
            int r3 = phn_refcnt(l) == 1 && glog_count(EV_DEALLOC, nid) == 0;
            PHN_DECREF(l);
            int d = glog_count(EV_DEALLOC, nid), f = glog_count(EV_FREE, nid);
            uint64_t blocks1 = stats_now().allocated_blocks;
            int64_t c = phn_gc_collect(2);
            result = tracked && r1 && r2 && r3 && d == 1 && f == 1 && nobjs() == base && blocks1 == blocks0 && c == 0;
            if (!result)
                fprintf(stderr, "\n  tracked ok %d r1 %d r2 %d r3 %d node dealloc %d free %d objects %lld (base %lld) "
                        "blocks %llu -> %llu collect %lld\n", tracked, r1, r2, r3, d, f, (long long)nobjs(),
                        (long long)base, (unsigned long long)blocks0, (unsigned long long)blocks1, (long long)c);
        }
    }
}

/* 2. acyclic cascade */
static void scenario2(void) {
    gc_scenario_start();
    CHECK_BODY("2 [callback]: A->B->C, drop A: deallocated A, B, C in that order before DECREF returns; collect() 0; "
               "count0 back to its value before") {
        int32_t c0 = count0();
        int64_t base = nobjs();
        Node* a = new_node(NT);
        Node* b = new_node(NT);
        Node* c = new_node(NT);
        int64_t ia = a->id, ib = b->id, ic = c->id;
        node_set(a, 0, b);
        node_set(b, 0, c);
        PHN_DECREF(b);
        PHN_DECREF(c);
        int none = glog_find(EV_DEALLOC, -1) < 0;
        int32_t c0_mid = count0();
        PHN_DECREF(a);
        int da = glog_find(EV_DEALLOC, ia), db = glog_find(EV_DEALLOC, ib), dc = glog_find(EV_DEALLOC, ic);
        int once = glog_count(EV_DEALLOC, ia) == 1 && glog_count(EV_DEALLOC, ib) == 1 && glog_count(EV_DEALLOC, ic) == 1 &&
                   glog_count(EV_FREE, -1) == 3;
        int32_t c0_after = count0();
        int64_t col = phn_gc_collect(2);
        result = none && c0_mid == c0 + 3 && da >= 0 && da < db && db < dc && once && col == 0 && c0_after == c0 &&
                 nobjs() == base;
        if (!result)
            fprintf(stderr, "\n  dealloc positions %d %d %d, once %d, count0 %d -> %d -> %d, collect %lld\n", da, db, dc,
                    once, c0, c0_mid, c0_after, (long long)col);
    }
    gc_scenario_start();
    CHECK_BODY("2 [layout]: LA->LB->LC->Node N, drop LA: N deallocated before DECREF returns; objects and count0 back; "
               "collect() 0") {
        int32_t c0 = count0();
        int64_t base = nobjs();
        phn_object* la = new_obj(LT);
        phn_object* lb = new_obj(LT);
        phn_object* lc = new_obj(LNT);   /* a non-GC one in the middle */
        Node* n = new_node(NT);
        int64_t nid = n->id;
        ((Node*)la)->slot[0] = lb;
        ((Node*)lb)->slot[3] = lc;
        ((Node*)lc)->slot[2] = &n->ob;
        int64_t mid = nobjs();
        PHN_DECREF(la);
        int d = glog_count(EV_DEALLOC, nid);
        int32_t c0_after = count0();
        int64_t after = nobjs();
        int64_t col = phn_gc_collect(2);
        result = mid == base + 3 && d == 1 && after == base && c0_after == c0 && col == 0;
        if (!result)
            fprintf(stderr, "\n  objects %lld/%lld/%lld, node dealloc %d, count0 %d -> %d, collect %lld\n", (long long)base,
                    (long long)mid, (long long)after, d, c0, c0_after, (long long)col);
    }
    gc_scenario_start();
    CHECK_BODY("2 [mixed]: Node A -> layout B -> Node C, drop A: A then C deallocated, before DECREF returns") {
        int64_t base = nobjs();
        Node* a = new_node(NT);
        phn_object* b = new_obj(LT);
        Node* c = new_node(NT);
        int64_t ia = a->id, ic = c->id;
        a->slot[1] = b;
        ((Node*)b)->slot[0] = &c->ob;
        PHN_DECREF(a);
        int da = glog_find(EV_DEALLOC, ia), dc = glog_find(EV_DEALLOC, ic);
        result = da >= 0 && dc > da && glog_count(EV_DEALLOC, -1) == 2 && nobjs() == base && phn_gc_collect(2) == 0;
    }
}

/* 3. CLEAR / SETREF ordering */
static phn_object* new_obs(void) {
    phn_object* o = new_obj(OBS);
    return o;
}
static void scenario3(void) {
    gc_scenario_start();
    CHECK_BODY("3: A.slot0 = B; PHN_CLEAR(A.slot0): B's dealloc observes A.slot0 == NULL") {
        Node* a = new_node(NT);
        a->slot[0] = new_obs();
        obs_calls = 0;
        obs_seen = OBS_UNSET;
        obs_watch = &a->slot[0];
        PHN_CLEAR(a->slot[0]);
        result = obs_calls == 1 && obs_seen == NULL && a->slot[0] == NULL;
        obs_watch = NULL;
        PHN_DECREF(a);
    }
    CHECK_BODY("3: A.slot0 = B; PHN_SETREF(A.slot0, C): B's dealloc observes C (the new value)") {
        Node* a = new_node(NT);
        a->slot[0] = new_obs();
        Node* c = new_node(NT);
        obs_calls = 0;
        obs_seen = OBS_UNSET;
        obs_watch = &a->slot[0];
        PHN_SETREF(a->slot[0], &c->ob);
        result = obs_calls == 1 && obs_seen == &c->ob && a->slot[0] == &c->ob;
        obs_watch = NULL;
        PHN_DECREF(a);
    }
    CHECK_BODY("3: A.slot0 = B; PHN_XSETREF(A.slot0, D): B's dealloc observes D") {
        Node* a = new_node(NT);
        a->slot[0] = new_obs();
        Node* d = new_node(NT);
        obs_calls = 0;
        obs_seen = OBS_UNSET;
        obs_watch = &a->slot[0];
        PHN_XSETREF(a->slot[0], &d->ob);
        result = obs_calls == 1 && obs_seen == &d->ob;
        obs_watch = NULL;
        PHN_DECREF(a);
    }
    CHECK_BODY("3 [layout]: the default dealloc of a layout type sets each field to NULL before releasing it") {
        phn_object* la = new_obj(LT);
        ((Node*)la)->slot[2] = new_obs();
        obs_calls = 0;
        obs_seen = OBS_UNSET;
        obs_watch = &((Node*)la)->slot[2];   /* la's memory is still valid while its dealloc runs */
        PHN_DECREF(la);
        result = obs_calls == 1 && obs_seen == NULL;
        obs_watch = NULL;
        if (!result) fprintf(stderr, "\n  observer deallocs %d, saw %p\n", obs_calls, (void*)obs_seen);
    }
    gc_scenario_start();
    CHECK_BODY("3 [layout, collector]: the library's clear of a layout type sets the field to NULL before releasing it "
               "(self-cycle LA owning observer B: collect() 2)") {
        phn_object* la = new_obj(LT);
        node_set((Node*)la, 0, la);
        ((Node*)la)->slot[1] = new_obs();
        obs_calls = 0;
        obs_seen = OBS_UNSET;
        obs_watch = &((Node*)la)->slot[1];
        PHN_DECREF(la);
        int64_t c = phn_gc_collect(2);
        result = c == 2 && obs_calls == 1 && obs_seen == NULL;
        obs_watch = NULL;
        if (!result) fprintf(stderr, "\n  collect %lld, observer deallocs %d, saw %p\n", (long long)c, obs_calls, (void*)obs_seen);
    }
}

/* 4. immortal objects */
static void scenario4(void) {
    gc_scenario_start();
    CHECK_BODY("4: Leaf made immortal: PHN_IS_IMMORTAL, phn_refcnt == PHN_IMMORTAL_REFCNT; 10^6 INCREF and 10^6+5 "
               "DECREF (macros) leave the count unchanged") {
        phn_object* x = new_obj(LEAF);
        int32_t rc = phn_object_set_immortal(x);
        intptr_t raw = PHN_REFCNT(x);
        int imm = PHN_IS_IMMORTAL(x) && phn_refcnt(x) == PHN_IMMORTAL_REFCNT;
        for (int i = 0; i < MILLION; i++) PHN_INCREF(x);
        for (int i = 0; i < MILLION + 5; i++) PHN_DECREF(x);
        result = rc == PHN_OK && imm && PHN_REFCNT(x) == raw && phn_refcnt(x) == PHN_IMMORTAL_REFCNT;
        if (!result)
            fprintf(stderr, "\n  rc %d immortal %d raw %lld now %lld phn_refcnt %lld\n", rc, imm, (long long)raw,
                    (long long)PHN_REFCNT(x), (long long)phn_refcnt(x));
    }
    CHECK_BODY("4: non-GC Node made immortal: 10^6 phn_incref and 10^6+5 phn_decref: count unchanged, never "
               "deallocated; PHN_SET_REFCNT(X, 1) and phn_set_refcnt(X, 1) have no effect") {
        glog_reset();
        Node* x = (Node*)new_obj(NGT);
        phn_object_set_immortal(&x->ob);
        intptr_t raw = PHN_REFCNT(x);
        int32_t s = phn_gil_ensure();
        for (int i = 0; i < MILLION; i++) phn_incref(&x->ob);
        for (int i = 0; i < MILLION + 5; i++) phn_decref(&x->ob);
        phn_gil_release(s);
        int same = PHN_REFCNT(x) == raw;
        PHN_SET_REFCNT(x, 1);
        int same2 = PHN_REFCNT(x) == raw;
        phn_set_refcnt(&x->ob, 1);
        int same3 = PHN_REFCNT(x) == raw && phn_refcnt(&x->ob) == PHN_IMMORTAL_REFCNT;
        result = same && same2 && same3 && glog_count(EV_DEALLOC, x->id) == 0 && PHN_IS_IMMORTAL(x);
    }
    CHECK_BODY("4 [layout]: an immortal layout node is never deallocated: the Node it holds survives 10^6+5 DECREFs") {
        glog_reset();
        phn_object* l = new_obj(LT);
        Node* n = new_node(NT);
        ((Node*)l)->slot[0] = &n->ob;
        phn_object_set_immortal(l);
        for (int i = 0; i < MILLION + 5; i++) PHN_DECREF(l);
        int64_t c = phn_gc_collect(2);
        result = PHN_IS_IMMORTAL(l) && glog_count(EV_DEALLOC, n->id) == 0 && PHN_REFCNT(n) == 1 && c == 0 &&
                 phn_gc_is_tracked(l) == 0;
    }
    phn_object* y = new_obj(NGT);   /* leaks: immortal */
    CHECK_BODY("4: a count reaching 2^31 makes an object immortal (phn_set_refcnt(2^31 - 1), phn_incref): "
               "PHN_IS_IMMORTAL, 10 phn_decref change nothing, never deallocated (it leaks rather than overflow)") {
        int64_t id = ((Node*)y)->id;
        glog_reset();
        int32_t rc = phn_set_refcnt(y, (intptr_t)INT32_MAX);
        phn_incref(y);
        int imm = PHN_IS_IMMORTAL(y);
        intptr_t raw = PHN_REFCNT(y);
        for (int i = 0; i < 10; i++) phn_decref(y);
        result = rc == PHN_OK && imm && PHN_IS_IMMORTAL(y) && PHN_REFCNT(y) == raw && glog_count(EV_DEALLOC, id) == 0;
        if (!result) fprintf(stderr, "\n  rc %d immortal %d count %lld\n", rc, imm, (long long)PHN_REFCNT(y));
    }
    /* the header: phn_refcnt returns "PHN_IMMORTAL_REFCNT's value for immortals" */
    CHECK_BODY("4: phn_refcnt of that object (immortal since its count reached 2^31) == PHN_IMMORTAL_REFCNT") {
        result = PHN_IS_IMMORTAL(y) && phn_refcnt(y) == PHN_IMMORTAL_REFCNT;
        if (!result)
            fprintf(stderr, "\n  phn_refcnt %lld, PHN_IMMORTAL_REFCNT %lld\n", (long long)phn_refcnt(y),
                    (long long)PHN_IMMORTAL_REFCNT);
    }
    gc_scenario_start();
    CHECK_BODY("4: a tracked Node self-cycle made immortal and dropped: untracked by the next collection, never "
               "counted (collect() 0 twice), never cleared, never freed") {
        Node* n = new_node(NT);
        node_set(n, 0, n);
        phn_object_set_immortal(&n->ob);
        PHN_DECREF(n);
        PHN_DECREF(n);
        int64_t c1 = phn_gc_collect(2);
        int tracked = phn_gc_is_tracked(&n->ob);
        int64_t c2 = phn_gc_collect(2);
        result = c1 == 0 && c2 == 0 && tracked == 0 && !gc_in_generation(n, -1) && glog_count(EV_CLEAR, n->id) == 0 &&
                 glog_count(EV_DEALLOC, n->id) == 0 && n->slot[0] == &n->ob && PHN_IS_IMMORTAL(n);
        if (!result) fprintf(stderr, "\n  collect %lld, %lld; tracked %d\n", (long long)c1, (long long)c2, tracked);
    }
    gc_scenario_start();
    CHECK_BODY("4: mortal A <-> immortal N, A dropped: N's reference is external (N untracked): collect() 0, A alive") {
        Node* a = new_node(NT);
        Node* n = new_node(NT);
        node_set(a, 0, n);
        node_set(n, 0, a);
        phn_object_set_immortal(&n->ob);
        PHN_DECREF(n);
        PHN_DECREF(a);
        int64_t c1 = phn_gc_collect(2);
        int64_t c2 = phn_gc_collect(2);
        result = c1 == 0 && c2 == 0 && glog_count(EV_DEALLOC, a->id) == 0 && glog_count(EV_CLEAR, -1) == 0 &&
                 phn_gc_is_tracked(&a->ob) == 1 && PHN_REFCNT(a) == 1;
    }
}

/* 5. SET_REFCNT on a mortal object */
static void scenario5(void) {
    gc_scenario_start();
    CHECK_BODY("5 [callback]: phn_set_refcnt 1 -> 3, then three DECREFs free it (dealloc once, at the third)") {
        Node* a = new_node(NT);
        int64_t id = a->id;
        int32_t rc = phn_set_refcnt(&a->ob, 3);
        int three = PHN_REFCNT(a) == 3 && phn_refcnt(&a->ob) == 3;
        PHN_DECREF(a);
        PHN_DECREF(a);
        int alive = glog_count(EV_DEALLOC, id) == 0 && PHN_REFCNT(a) == 1;
        PHN_DECREF(a);
        result = rc == PHN_OK && three && alive && glog_count(EV_DEALLOC, id) == 1 && glog_count(EV_FREE, id) == 1;
    }
    CHECK_BODY("5 [callback, macro]: PHN_SET_REFCNT 1 -> 3, three phn_decref free it once") {
        glog_reset();
        Node* a = new_node(NT);
        int64_t id = a->id;
        PHN_SET_REFCNT(a, 3);
        phn_decref(&a->ob);
        phn_decref(&a->ob);
        int alive = glog_count(EV_DEALLOC, id) == 0 && phn_refcnt(&a->ob) == 1;
        phn_decref(&a->ob);
        result = alive && glog_count(EV_DEALLOC, id) == 1;
    }
    CHECK_BODY("5 [layout]: phn_set_refcnt 1 -> 3, three DECREFs free it (the Node it holds goes at the third)") {
        glog_reset();
        int64_t base = nobjs();
        phn_object* l = new_obj(LT);
        Node* n = new_node(NT);
        ((Node*)l)->slot[0] = &n->ob;
        phn_set_refcnt(l, 3);
        PHN_DECREF(l);
        PHN_DECREF(l);
        int alive = glog_count(EV_DEALLOC, n->id) == 0 && phn_refcnt(l) == 1;
        int64_t nid = n->id;
        PHN_DECREF(l);
        result = alive && glog_count(EV_DEALLOC, nid) == 1 && nobjs() == base;
    }
    CHECK_BODY("5: phn_set_refcnt(op, 0) does not deallocate; the count is 0; set back to 1, a DECREF frees it once") {
        glog_reset();
        Node* a = new_node(NGT);
        int64_t id = a->id;
        int32_t rc = phn_set_refcnt(&a->ob, 0);
        int zero = phn_refcnt(&a->ob) == 0 && glog_count(EV_DEALLOC, id) == 0;
        phn_set_refcnt(&a->ob, 1);
        PHN_DECREF(a);
        result = rc == PHN_OK && zero && glog_count(EV_DEALLOC, id) == 1;
    }
    CHECK_BODY("5: phn_set_refcnt(op, -1) -> PHN_EINVAL and the count is unchanged") {
        Node* a = new_node(NT);
        phn_incref(&a->ob);
        phn_clear_error();
        int32_t rc = phn_set_refcnt(&a->ob, -1);
        result = rc == PHN_EINVAL && has_err(PHN_EINVAL, NULL) && PHN_REFCNT(a) == 2;
        PHN_DECREF(a);
        PHN_DECREF(a);
    }
}

/* ================================================================== §16.2 */

/* 10. track / untrack */
static void scenario10(void) {
    gc_scenario_start();
    CHECK_BODY("10: phn_gc_new -> untracked (refcount 1, type set); track -> 1; untrack -> 0; untrack again: no-op; "
               "track again -> 1") {
        phn_object* o = phn_gc_new(NT);
        if (o == NULL) { result = false; continue; }   /* continue: the check is still counted */
        memset((char*)o + sizeof(phn_object), 0, sizeof(Node) - sizeof(phn_object));
        ((Node*)o)->id = next_node_id++;
        int t0 = phn_gc_is_tracked(o);
        int r1 = PHN_REFCNT(o) == 1 && PHN_TYPE(o) == NT;
        int32_t a = phn_gc_track(o);
        int t1 = phn_gc_is_tracked(o);
        int in1 = gc_in_generation(o, 0);
        int32_t b = phn_gc_untrack(o);
        int t2 = phn_gc_is_tracked(o);
        int in2 = gc_in_generation(o, -1);
        int32_t c = phn_gc_untrack(o);
        int t3 = phn_gc_is_tracked(o);
        int32_t d = phn_gc_track(o);
        int t4 = phn_gc_is_tracked(o);
        result = t0 == 0 && r1 && a == PHN_OK && t1 == 1 && in1 && b == PHN_OK && t2 == 0 && !in2 && c == PHN_OK &&
                 t3 == 0 && d == PHN_OK && t4 == 1;
        if (!result)
            fprintf(stderr, "\n  tracked %d %d %d %d %d; rc %d %d %d %d; in gen0 %d, in all after untrack %d\n", t0, t1, t2,
                    t3, t4, a, b, c, d, in1, in2);
        PHN_DECREF(o);
    }
    CHECK_BODY("10 [layout]: phn_gc_new of a layout type is untracked; track / untrack / track") {
        phn_object* o = phn_gc_new(LT);
        if (o == NULL) { result = false; continue; }   /* continue: the check is still counted */
        memset((char*)o + sizeof(phn_object), 0, sizeof(Node) - sizeof(phn_object));
        int t0 = phn_gc_is_tracked(o);
        phn_gc_track(o);
        int t1 = phn_gc_is_tracked(o);
        phn_gc_untrack(o);
        phn_gc_untrack(o);
        int t2 = phn_gc_is_tracked(o);
        phn_gc_track(o);
        int t3 = phn_gc_is_tracked(o);
        result = t0 == 0 && t1 == 1 && t2 == 0 && t3 == 1;
        PHN_DECREF(o);
    }
    CHECK_BODY("10: a second phn_gc_track (handler that returns): the fatal handler is called once with \"object "
               "already tracked by the garbage collector\", PHN_ESTATE, the object is tracked once") {
        phn_object* o = new_obj(NT);
        int64_t n0 = nobjs();
        int32_t c0 = count0();
        fatal_catch();
        int32_t rc = phn_gc_track(o);
        fatal_restore();
        int64_t n1 = nobjs();
        result = rc == PHN_ESTATE && fatal_calls == 1 &&
                 strstr(fatal_msg, "object already tracked by the garbage collector") != NULL && n1 == n0 &&
                 count0() == c0 && phn_gc_is_tracked(o) == 1;
        if (!result)
            fprintf(stderr, "\n  rc %d, handler calls %d \"%s\", objects %lld -> %lld\n", rc, fatal_calls, fatal_msg,
                    (long long)n0, (long long)n1);
        PHN_DECREF(o);
        result = result && nobjs() == n0 - 1 && phn_gc_collect(2) == 0;
    }
    phn_type* ts[2] = {NT, LT};
    const char* names[2] = {"10 [callback]: phn_object_new -> tracked, refcount 1, every field zero, traverse visits nothing",
                            "10 [layout]: phn_object_new -> tracked, refcount 1, every field zero, traverse visits nothing"};
    for (int k = 0; k < 2; k++) {
        CHECK_BODY(names[k]) {
            phn_object* o = phn_object_new(ts[k]);
            if (o == NULL) { result = false; continue; }   /* continue: the check is still counted */
            int zero = all_zero((char*)o + sizeof(phn_object), sizeof(Node) - sizeof(phn_object));
            phn_object* out[4] = {NULL, NULL, NULL, NULL};
            int64_t nref = phn_gc_get_referents(&o, 1, out, 4);
            result = phn_gc_is_tracked(o) == 1 && PHN_REFCNT(o) == 1 && PHN_TYPE(o) == ts[k] && zero && nref == 0 &&
                     phn_object_is_gc(o) == 1;
            if (!result) fprintf(stderr, "\n  zero %d referents %lld\n", zero, (long long)nref);
            PHN_DECREF(o);
        }
    }
    CHECK_BODY("10 [layout]: the layout traversal visits the fields in offset order, NULLs skipped: slots "
               "[X, X, NULL, Y] -> referents [X, X, Y]") {
        phn_object* l = new_obj(LT);
        phn_object* x = new_obj(NT);
        phn_object* y = new_obj(LEAF);
        node_set((Node*)l, 0, x);
        node_set((Node*)l, 1, x);
        node_set((Node*)l, 3, y);
        phn_object* out[8] = {NULL};
        int64_t n = phn_gc_get_referents(&l, 1, out, 8);
        result = n == 3 && out[0] == x && out[1] == x && out[2] == y;
        if (!result) fprintf(stderr, "\n  %lld referents\n", (long long)n);
        PHN_DECREF(l);
        result = result && PHN_REFCNT(x) == 1 && PHN_REFCNT(y) == 1;
        PHN_DECREF(x);
        PHN_DECREF(y);
    }
    CHECK_BODY("10: phn_object_is_gc: 1 for Node and LNode, 0 for Leaf and non-GC nodes; phn_gc_is_tracked 0 for non-GC") {
        phn_object* a = new_obj(NT);
        phn_object* b = new_obj(LT);
        phn_object* c = new_obj(LEAF);
        phn_object* d = new_obj(LNT);
        result = phn_object_is_gc(a) == 1 && phn_object_is_gc(b) == 1 && phn_object_is_gc(c) == 0 &&
                 phn_object_is_gc(d) == 0 && phn_gc_is_tracked(c) == 0 && phn_gc_is_tracked(d) == 0;
        PHN_DECREF(a);
        PHN_DECREF(b);
        PHN_DECREF(c);
        PHN_DECREF(d);
    }
}

/* 11. free while tracked; with the GIL held by the caller (as in a dealloc run by a
 * collection) phn_object_free is done in C (Native/phn_dealloc.c), without it by the managed
 * export: both must do the same. */
static void scenario11(void) {
    phn_type* ts[2] = {NT, LT};
    const char* names[4] = {
        "11 [callback]: phn_object_free on a tracked object unlinks it: absent from get_objects, count0 - 1, "
        "the block freed, later collections work (a dropped 2-cycle made afterwards: collect() 2)",
        "11 [layout]: the same",
        "11 [callback, GIL held by the caller]: the same",
        "11 [layout, GIL held by the caller]: the same"};
    for (int k = 0; k < 4; k++) {
        gc_scenario_start();
        CHECK_BODY(names[k]) {
            phn_object* keep = new_obj(ts[k % 2]);
            phn_object* o = new_obj(ts[k % 2]);
            int64_t n0 = nobjs();
            int32_t c0 = count0();
            uint64_t b0 = stats_now().allocated_blocks;
            uintptr_t addr = U(o);
            int32_t gil = k >= 2 ? phn_gil_ensure() : -1;
            int32_t rc = phn_object_free(o);
            if (gil >= 0) phn_gil_release(gil);
            uint64_t b1 = stats_now().allocated_blocks;
            int64_t n1 = nobjs();
            int32_t c1 = count0();
            int absent = !gc_in_generation((void*)addr, -1);
            int64_t col = phn_gc_collect(2);
            Node* a = (Node*)new_obj(ts[k % 2]);
            Node* b = (Node*)new_obj(ts[k % 2]);
            node_set(a, 0, b);
            node_set(b, 0, a);
            PHN_DECREF(a);
            PHN_DECREF(b);
            int64_t col2 = phn_gc_collect(2);
            int keep_ok = phn_gc_is_tracked(keep) == 1 && gc_in_generation(keep, 2);
            result = rc == PHN_OK && n1 == n0 - 1 && c1 == c0 - 1 && b1 == b0 - 1 && absent && col == 0 && col2 == 2 && keep_ok;
            if (!result)
                fprintf(stderr, "\n  rc %d objects %lld -> %lld count0 %d -> %d blocks %llu -> %llu absent %d collect %lld then %lld keep %d\n",
                        rc, (long long)n0, (long long)n1, c0, c1, (unsigned long long)b0, (unsigned long long)b1, absent,
                        (long long)col, (long long)col2, keep_ok);
            PHN_DECREF(keep);
        }
    }
    gc_scenario_start();
    CHECK_BODY("11 [weak-referenceable, no weak reference, GIL held by the caller]: phn_object_free frees the object "
               "and the block") {
        phn_object* o = new_obj(WNT);
        uint64_t b0 = stats_now().allocated_blocks;
        int64_t n0 = nobjs();
        int32_t c0 = count0();
        int32_t gil = phn_gil_ensure();
        int32_t rc = phn_object_free(o);
        phn_gil_release(gil);
        result = rc == PHN_OK && stats_now().allocated_blocks == b0 - 1 && nobjs() == n0 - 1 && count0() == c0 - 1;
    }
    for (int held = 0; held < 2; held++) {
        gc_scenario_start();
        CHECK_BODY(held ? "11 [weak-referenceable, GIL held by the caller]: phn_object_free of an object a weak "
                          "reference still names clears the reference (dead afterwards), frees the object and the block"
                        : "11 [weak-referenceable]: phn_object_free of an object a weak reference still names clears "
                          "the reference (dead afterwards), frees the object and the block") {
            phn_object* o = new_obj(WNT);
            phn_object* w = phn_weakref_new(o, NULL, NULL);
            uint64_t b0 = stats_now().allocated_blocks;
            int64_t n0 = nobjs();
            int32_t gil = held ? phn_gil_ensure() : -1;
            int32_t rc = phn_object_free(o);
            if (gil >= 0) phn_gil_release(gil);
            phn_object* got = (phn_object*)&result;
            int32_t gr = w != NULL ? phn_weakref_get_ref(w, &got) : -9;
            uint64_t b1 = stats_now().allocated_blocks;
            int64_t n1 = nobjs();
            result = w != NULL && rc == PHN_OK && gr == 0 && got == NULL && b1 == b0 - 1 && n1 == n0 - 1;
            if (!result)
                fprintf(stderr, "\n  weakref %p rc %d get_ref %d -> %p blocks %llu -> %llu objects %lld -> %lld\n", (void*)w, rc,
                        gr, (void*)got, (unsigned long long)b0, (unsigned long long)b1, (long long)n0, (long long)n1);
            PHN_XDECREF(w);
        }
    }
}

/* 12. resize */
static void scenario12(void) {
    gc_scenario_start();
    CHECK_BODY("12: phn_gc_new_var(VT, 3): untracked, ob_size 3; phn_gc_resize to 10: ob_size 10, items kept, new "
               "items zero; to 2: ob_size 2, items kept; tracked and dropped: the items are released") {
        phn_object* v = phn_gc_new_var(VT, 3);
        if (v == NULL) { result = false; continue; }   /* continue: the check is still counted */
        Node* n0 = new_node(NT);
        Node* n1 = new_node(NT);
        int64_t i0 = n0->id, i1 = n1->id;
        phn_object** it = items_of(v, 24);
        it[0] = &n0->ob;
        it[1] = &n1->ob;
        it[2] = NULL;
        int s3 = PHN_SIZE(v) == 3 && phn_gc_is_tracked(v) == 0;
        phn_object* v2 = phn_gc_resize(v, 10);
        int s10 = 0, kept = 0, zero = 0;
        if (v2) {
            v = v2;
            it = items_of(v, 24);
            s10 = PHN_SIZE(v) == 10;
            kept = it[0] == &n0->ob && it[1] == &n1->ob && it[2] == NULL;
            zero = all_zero(&it[3], 7 * sizeof(phn_object*));
        }
        phn_object* v3 = v2 ? phn_gc_resize(v, 2) : NULL;
        int s2 = 0, kept2 = 0;
        if (v3) {
            v = v3;
            it = items_of(v, 24);
            s2 = PHN_SIZE(v) == 2;
            kept2 = it[0] == &n0->ob && it[1] == &n1->ob && PHN_REFCNT(n0) == 1 && PHN_REFCNT(n1) == 1;
        }
        int untracked = phn_gc_is_tracked(v) == 0;
        phn_gc_track(v);
        PHN_DECREF(v);
        int released = glog_count(EV_DEALLOC, i0) == 1 && glog_count(EV_DEALLOC, i1) == 1;
        result = s3 && v2 && s10 && kept && zero && v3 && s2 && kept2 && untracked && released;
        if (!result)
            fprintf(stderr, "\n  s3 %d resize10 %p s10 %d kept %d zero %d resize2 %p s2 %d kept2 %d untracked %d released %d\n",
                    s3, (void*)v2, s10, kept, zero, (void*)v3, s2, kept2, untracked, released);
    }
    CHECK_BODY("12: phn_gc_resize of a VT2 object (a field + items) keeps the field and the items; new items zero") {
        phn_object* v = phn_gc_new_var(VT2, 2);
        if (v == NULL) { result = false; continue; }   /* continue: the check is still counted */
        memset((char*)v + 24, 0, 8 + 2 * 8);
        phn_object* leaf = new_obj(LEAF);
        ((phn_object**)((char*)v + 24))[0] = phn_new_ref(leaf);    /* the field at 24 */
        items_of(v, 32)[1] = phn_new_ref(leaf);
        phn_object* v2 = phn_gc_resize(v, 100);
        result = v2 != NULL && PHN_SIZE(v2) == 100 && ((phn_object**)((char*)v2 + 24))[0] == leaf &&
                 items_of(v2, 32)[0] == NULL && items_of(v2, 32)[1] == leaf && all_zero(&items_of(v2, 32)[2], 98 * 8);
        if (v2) v = v2;
        phn_gc_track(v);
        PHN_DECREF(v);
        result = result && PHN_REFCNT(leaf) == 1;
        PHN_DECREF(leaf);
    }
    CHECK_BODY("12: phn_gc_resize(v, -1) -> NULL, v unchanged") {
        phn_object* v = phn_gc_new_var(VT, 4);
        if (v == NULL) { result = false; continue; }   /* continue: the check is still counted */
        memset(items_of(v, 24), 0, 4 * 8);
        phn_clear_error();
        phn_object* r = phn_gc_resize(v, -1);
        result = r == NULL && phn_last_error_code() != 0 && PHN_SIZE(v) == 4;
        phn_gc_track(v);
        PHN_DECREF(v);
    }
    CHECK_BODY("12: phn_gc_resize of a tracked object (handler that returns): the handler is called with "
               "\"phn_gc_resize: object is tracked\", NULL, nothing changed") {
        phn_object* v = new_var(VT, 3);
        Node* n = new_node(NT);
        items_of(v, 24)[0] = &n->ob;
        fatal_catch();
        phn_object* r = phn_gc_resize(v, 8);
        fatal_restore();
        result = r == NULL && fatal_calls == 1 && strstr(fatal_msg, "phn_gc_resize: object is tracked") != NULL &&
                 PHN_SIZE(v) == 3 && phn_gc_is_tracked(v) == 1 && items_of(v, 24)[0] == &n->ob;
        if (!result) fprintf(stderr, "\n  result %p, handler calls %d \"%s\"\n", (void*)r, fatal_calls, fatal_msg);
        int64_t nid = n->id;
        PHN_DECREF(v);
        result = result && glog_count(EV_DEALLOC, nid) == 1;
    }
}

/* 13. count0 bookkeeping */
static void scenario13(void) {
    gc_scenario_start();
    CHECK_BODY("13: from (0,0,0): 5 new tracked objects -> count0 5; free 2 -> 3; free 10 older objects (generation "
               "2) -> 0, never below; one more -> 1") {
        phn_object* old[10];
        for (int i = 0; i < 10; i++) old[i] = new_obj(i % 2 ? LT : NT);
        phn_gc_collect(2);
        int start = gc_count_is(0, 0, 0) && gc_in_generation(old[0], 2);
        phn_object* y[5];
        for (int i = 0; i < 5; i++) y[i] = new_obj(i % 2 ? LT : NT);
        int five = gc_count_is(5, 0, 0);
        PHN_DECREF(y[0]);
        PHN_DECREF(y[1]);
        int three = gc_count_is(3, 0, 0);
        int32_t seen_min = 3;
        for (int i = 0; i < 10; i++) {
            PHN_DECREF(old[i]);
            int32_t c = count0();
            if (c < seen_min) seen_min = c;
        }
        int zero = gc_count_is(0, 0, 0) && seen_min == 0;
        phn_object* z = new_obj(NT);
        int one = gc_count_is(1, 0, 0);
        result = start && five && three && zero && one;
        if (!result) {
            fprintf(stderr, "\n  start %d five %d three %d zero %d (min %d) one %d", start, five, three, zero, seen_min, one);
            print_count();
        }
        for (int i = 2; i < 5; i++) PHN_DECREF(y[i]);
        PHN_DECREF(z);
    }
    gc_scenario_start();
    CHECK_BODY("13: count0 grows when an object is tracked, not when it is allocated: phn_gc_new +0, phn_gc_track +1") {
        phn_object* o = phn_gc_new(NT);
        if (o == NULL) { result = false; continue; }   /* continue: the check is still counted */
        memset((char*)o + sizeof(phn_object), 0, sizeof(Node) - sizeof(phn_object));
        int32_t a = count0();
        phn_gc_track(o);
        int32_t b = count0();
        result = a == 0 && b == 1;
        if (!result) fprintf(stderr, "\n  after gc_new %d, after track %d\n", a, b);
        PHN_DECREF(o);
    }
}

/* ================================================================== var objects */

static void test_var(void) {
    gc_scenario_start();
    CHECK_BODY("var: phn_object_new_var(VT, 5): ob_size 5, items NULL, tracked, refcount 1") {
        phn_object* v = phn_object_new_var(VT, 5);
        result = v != NULL && PHN_SIZE(v) == 5 && all_zero(items_of(v, 24), 5 * 8) && phn_gc_is_tracked(v) == 1 &&
                 PHN_REFCNT(v) == 1 && PHN_TYPE(v) == VT;
        if (v) PHN_DECREF(v);
    }
    CHECK_BODY("var: phn_object_new_var(VB, 100) (bytes): ob_size 100, zero-filled, not tracked; n = 0 works") {
        phn_object* v = phn_object_new_var(VB, 100);
        phn_object* e = phn_object_new_var(VT, 0);
        result = v != NULL && PHN_SIZE(v) == 100 && all_zero((char*)v + 24, 100) && phn_gc_is_tracked(v) == 0 && e &&
                 PHN_SIZE(e) == 0;
        if (v) {
            memset((char*)v + 24, 0xAB, 100);
            PHN_DECREF(v);
        }
        if (e) PHN_DECREF(e);
    }
    CHECK_BODY("var: phn_gc_new_var(VT, 7): ob_size 7, untracked") {
        phn_object* v = phn_gc_new_var(VT, 7);
        result = v != NULL && PHN_SIZE(v) == 7 && phn_gc_is_tracked(v) == 0;
        if (v) {
            memset(items_of(v, 24), 0, 7 * 8);
            PHN_DECREF(v);
        }
    }
    phn_type* vts[3] = {VT, VT2, NVT};
    int64_t bs[3] = {24, 32, 24};
    const char* names[3] = {"var [GC, ITEMS_ARE_REFS]: 5 items holding 4 Nodes (one twice): dropping the object "
                            "releases every item before DECREF returns (4 deallocs)",
                            "var [GC, a field + items]: the field and the items are released",
                            "var [non-GC, ITEMS_ARE_REFS]: the items are released"};
    for (int k = 0; k < 3; k++) {
        glog_reset();
        CHECK_BODY(names[k]) {
            int64_t base = nobjs();
            phn_object* v = new_var(vts[k], 5);
            int64_t ids[6];
            phn_object** it = items_of(v, bs[k]);
            for (int i = 0; i < 4; i++) {
                Node* n = new_node(NT);
                ids[i] = n->id;
                it[i] = &n->ob;   /* steals the reference */
            }
            it[4] = phn_new_ref(it[3]);   /* node 3 held twice */
            if (k == 1) {
                Node* f = new_node(NT);
                ids[5] = f->id;
                *(phn_object**)((char*)v + 24) = &f->ob;   /* the field */
            }
            int none = glog_count(EV_DEALLOC, -1) == 0;
            PHN_DECREF(v);
            int ok_ = none && glog_count(EV_DEALLOC, -1) == (k == 1 ? 5 : 4);
            for (int i = 0; i < 4; i++) ok_ = ok_ && glog_count(EV_DEALLOC, ids[i]) == 1;
            if (k == 1) ok_ = ok_ && glog_count(EV_DEALLOC, ids[5]) == 1;
            result = ok_ && nobjs() == base && phn_gc_collect(2) == 0;
        }
    }
    gc_scenario_start();
    CHECK_BODY("var: a var object holding itself (items[1] = v) and a Node (items[0]) is a cycle: collect() 2, the "
               "Node deallocated once, objects back to the baseline") {
        int64_t base = nobjs();
        phn_object* v = new_var(VT, 3);
        Node* n = new_node(NT);
        items_of(v, 24)[0] = &n->ob;
        items_of(v, 24)[1] = phn_new_ref(v);
        PHN_DECREF(v);
        int alive = glog_count(EV_DEALLOC, n->id) == 0;
        int64_t nid = n->id;
        int64_t c = phn_gc_collect(2);
        result = alive && c == 2 && glog_count(EV_DEALLOC, nid) == 1 && nobjs() == base;
        if (!result) fprintf(stderr, "\n  collect %lld\n", (long long)c);
    }
    gc_scenario_start();
    CHECK_BODY("var: items are traversed: v holding X twice and Y -> referents [X, X, Y]; a var holding itself "
               "through a field and an item (VT2): collect() 1") {
        phn_object* v = new_var(VT, 4);
        phn_object* x = new_obj(NT);
        phn_object* y = new_obj(LT);
        items_of(v, 24)[0] = phn_new_ref(x);
        items_of(v, 24)[2] = phn_new_ref(x);
        items_of(v, 24)[3] = phn_new_ref(y);
        phn_object* out[8] = {NULL};
        int64_t n = phn_gc_get_referents(&v, 1, out, 8);
        int refs = n == 3 && out[0] == x && out[1] == x && out[2] == y;
        PHN_DECREF(v);
        int back = PHN_REFCNT(x) == 1 && PHN_REFCNT(y) == 1;
        PHN_DECREF(x);
        PHN_DECREF(y);
        phn_object* w = new_var(VT2, 2);
        *(phn_object**)((char*)w + 24) = phn_new_ref(w);
        items_of(w, 32)[1] = phn_new_ref(w);
        PHN_DECREF(w);
        int64_t c = phn_gc_collect(2);
        result = refs && back && c == 1;
        if (!result) fprintf(stderr, "\n  referents %lld, refs ok %d, back %d, collect %lld\n", (long long)n, refs, back, (long long)c);
    }
}

/* ================================================================== bad input */

enum { BS_NULL_SPEC, BS_NULL_NAME, BS_STRUCT_8, BS_STRUCT_0, BS_FLAG, BS_BASIC_8, BS_BASIC_0, BS_BASIC_NEG,
       BS_BASIC_36, BS_ITEM_NEG, BS_VAR_16, BS_REFS_4, BS_REFS_0, BS_OFF_8, BS_OFF_0, BS_OFF_32, BS_OFF_1000,
       BS_OFF_20, BS_OFF_REPEAT, BS_VAR_OFF_16, BS_VAR_OFF_24, BS__COUNT };

static const struct { const char* what; const char* word; const char* word2; } BAD_SPECS[BS__COUNT] = {
    {"NULL spec", "spec", NULL},
    {"NULL name", "name", NULL},
    {"struct_size 8", "struct_size", NULL},
    {"struct_size 0", "struct_size", NULL},
    {"an unknown flag (1 << 20)", "flag", NULL},
    {"basicsize 8 (< 16)", "basicsize", NULL},
    {"basicsize 0", "basicsize", NULL},
    {"basicsize -16", "basicsize", NULL},
    {"basicsize 36 (not a multiple of 8)", "basicsize", NULL},
    {"itemsize -8", "itemsize", NULL},
    {"var type (itemsize 8) with basicsize 16 (< 24)", "basicsize", NULL},
    {"ITEMS_ARE_REFS with itemsize 4", "itemsize", "items_are_refs"},
    {"ITEMS_ARE_REFS with itemsize 0", "itemsize", "items_are_refs"},
    {"offset 8 (inside the header)", "offset", NULL},
    {"offset 0 (inside the header)", "offset", NULL},
    {"offset 32 == basicsize (outside the object)", "offset", NULL},
    {"offset 1000 (outside the object)", "offset", NULL},
    {"offset 20 (misaligned)", "offset", NULL},
    {"offsets {16, 16} (repeated)", "offset", NULL},
    {"var type, offset 16 (ob_size, inside the var header)", "offset", NULL},
    {"var type with basicsize 24, offset 24 (outside basicsize)", "offset", NULL},
};

static void bad_spec_base(phn_type_spec* s, uint32_t* offs) {
    memset(s, 0, sizeof *s);
    s->struct_size = (uint32_t)sizeof *s;
    s->name = "BadSpec";
    s->flags = PHN_TPFLAGS_HAVE_GC;
    s->basicsize = 32;
    offs[0] = 16;
    offs[1] = 24;
    s->ref_offsets = offs;
    s->ref_count = 2;
}

static void test_bad_input(void) {
    uint32_t offs[4];
    phn_type_spec s;
    CHECK_BODY("bad: the base spec of the bad-spec cases is valid (basicsize 32, GC, offsets {16, 24})") {
        bad_spec_base(&s, offs);
        phn_type* t = phn_type_new(&s);
        result = t != NULL && phn_type_flags(t) == PHN_TPFLAGS_HAVE_GC && phn_type_name(t) &&
                 strcmp(phn_type_name(t), "BadSpec") == 0;
        uint32_t voffs[1] = {24};
        phn_type_spec v;
        memset(&v, 0, sizeof v);
        v.struct_size = (uint32_t)sizeof v;
        v.name = "VarSpec";
        v.flags = PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_ITEMS_ARE_REFS;
        v.basicsize = 32;
        v.itemsize = 8;
        v.ref_offsets = voffs;
        v.ref_count = 1;
        result = result && phn_type_new(&v) != NULL;
    }
    for (int c = 0; c < BS__COUNT; c++) {
        char name[200];
        snprintf(name, sizeof name, "bad: phn_type_new with %s -> NULL, PHN_EINVAL, a message naming \"%s\"",
                 BAD_SPECS[c].what, BAD_SPECS[c].word);
        CHECK_BODY(name) {
            bad_spec_base(&s, offs);
            switch (c) {
            case BS_NULL_NAME: s.name = NULL; break;
            case BS_STRUCT_8: s.struct_size = 8; break;
            case BS_STRUCT_0: s.struct_size = 0; break;
            case BS_FLAG: s.flags |= 1u << 20; break;
            case BS_BASIC_8: s.basicsize = 8; s.ref_count = 0; break;
            case BS_BASIC_0: s.basicsize = 0; s.ref_count = 0; break;
            case BS_BASIC_NEG: s.basicsize = -16; s.ref_count = 0; break;
            case BS_BASIC_36: s.basicsize = 36; break;
            case BS_ITEM_NEG: s.itemsize = -8; break;
            case BS_VAR_16: s.basicsize = 16; s.itemsize = 8; s.ref_count = 0; break;
            case BS_REFS_4: s.flags |= PHN_TPFLAGS_ITEMS_ARE_REFS; s.itemsize = 4; offs[0] = 24; s.ref_count = 1; break;
            case BS_REFS_0: s.flags |= PHN_TPFLAGS_ITEMS_ARE_REFS; s.itemsize = 0; break;
            case BS_OFF_8: offs[0] = 8; break;
            case BS_OFF_0: offs[0] = 0; break;
            case BS_OFF_32: offs[1] = 32; break;
            case BS_OFF_1000: offs[1] = 1000; break;
            case BS_OFF_20: offs[1] = 20; break;
            case BS_OFF_REPEAT: offs[1] = 16; break;
            case BS_VAR_OFF_16: s.itemsize = 8; s.flags |= PHN_TPFLAGS_ITEMS_ARE_REFS; offs[0] = 16; offs[1] = 24; break;
            case BS_VAR_OFF_24: s.itemsize = 8; s.basicsize = 24; offs[0] = 24; s.ref_count = 1; break;
            default: break;
            }
            phn_clear_error();
            phn_type* t = phn_type_new(c == BS_NULL_SPEC ? NULL : &s);
            const char* msg = phn_last_error_message();
            int named = contains_ci(msg, BAD_SPECS[c].word) || (BAD_SPECS[c].word2 && contains_ci(msg, BAD_SPECS[c].word2));
            result = t == NULL && phn_last_error_code() == PHN_EINVAL && named;
            if (!result)
                fprintf(stderr, "\n  type %p, code %d, message \"%s\"\n", (void*)t, phn_last_error_code(), msg ? msg : "(null)");
        }
    }
    CHECK_BODY("bad: the name is copied (changing the caller's buffer afterwards does not change it)") {
        char buf[16] = "Copied";
        bad_spec_base(&s, offs);
        s.name = buf;
        phn_type* t = phn_type_new(&s);
        strcpy(buf, "Changed");
        result = t && strcmp(phn_type_name(t), "Copied") == 0 && phn_type_name(NULL) == NULL && phn_type_flags(NULL) == 0;
    }
    CHECK_BODY("bad: phn_object_new(NULL) -> NULL, PHN_EINVAL") {
        phn_clear_error();
        result = phn_object_new(NULL) == NULL && has_err(PHN_EINVAL, NULL);
    }
    CHECK_BODY("bad: phn_object_new / _new_var / phn_gc_new of a struct that is not a type (no magic), and "
               "phn_object_new_var of a fixed-size type -> NULL, PHN_EINVAL, nothing made") {
        static uint64_t not_a_type[16];   /* zeros: no magic, no sizes */
        int64_t n0 = nobjs();
        uint64_t b0 = stats_now().allocated_blocks;
        phn_clear_error();
        int a = phn_object_new((phn_type*)not_a_type) == NULL && has_err(PHN_EINVAL, NULL);
        phn_clear_error();
        int b = phn_object_new_var((phn_type*)not_a_type, 2) == NULL && has_err(PHN_EINVAL, NULL);
        phn_clear_error();
        int c = phn_gc_new((phn_type*)not_a_type) == NULL && has_err(PHN_EINVAL, NULL);
        phn_clear_error();
        int d = phn_object_new_var(NT, 2) == NULL && has_err(PHN_EINVAL, NULL);
        result = a && b && c && d && nobjs() == n0 && stats_now().allocated_blocks == b0;
    }
    CHECK_BODY("bad: phn_object_new over an OBJ allocator whose calloc fails once: NULL, PHN_ENOMEM, the allocator "
               "asked once (no second attempt), nothing tracked; the next call works") {
        phn_allocator saved, failing;
        int got = phn_get_allocator(PHN_DOMAIN_OBJ, &saved) == PHN_OK;
        fail_once_inner = saved;
        fail_once_calls = 0;
        fail_once_armed = 1;
        failing = saved;
        failing.ctx = NULL;
        failing.malloc = fail_once_malloc;
        failing.calloc = fail_once_calloc;
        failing.realloc = fail_once_realloc;
        failing.free = fail_once_free;
        int set = got && phn_set_allocator(PHN_DOMAIN_OBJ, &failing) == PHN_OK;
        int64_t n0 = nobjs();
        phn_clear_error();
        phn_object* o = phn_object_new(NT);
        int32_t code = phn_last_error_code();
        long calls = fail_once_calls;
        phn_object* o2 = phn_object_new(NT);
        if (got) phn_set_allocator(PHN_DOMAIN_OBJ, &saved);
        result = set && o == NULL && code == PHN_ENOMEM && calls == 1 && o2 != NULL && nobjs() == n0 + 1;
        if (!result) fprintf(stderr, "\n  set %d object %p code %d calloc calls %ld then %p\n", set, (void*)o, code, calls, (void*)o2);
        if (o2) PHN_DECREF(o2);
    }
    CHECK_BODY("bad: phn_object_new(var type) -> NULL, PHN_EINVAL") {
        phn_clear_error();
        int64_t n0 = nobjs();
        result = phn_object_new(VT) == NULL && has_err(PHN_EINVAL, NULL) && nobjs() == n0;
    }
    CHECK_BODY("bad: phn_object_new_var(NULL, 1), phn_object_new_var(VT, -1), phn_gc_new_var(VT, -1) -> NULL, PHN_EINVAL") {
        phn_clear_error();
        int a = phn_object_new_var(NULL, 1) == NULL && has_err(PHN_EINVAL, NULL);
        phn_clear_error();
        int b = phn_object_new_var(VT, -1) == NULL && has_err(PHN_EINVAL, NULL);
        phn_clear_error();
        int c = phn_gc_new_var(VT, -1) == NULL && has_err(PHN_EINVAL, NULL);
        result = a && b && c;
    }
    CHECK_BODY("bad: phn_object_new_var with a huge n (INT64_MAX, INT64_MAX / 8, 2^45) -> NULL with an error, nothing "
               "tracked") {
        int64_t n0 = nobjs();
        volatile int64_t huge[3] = {INT64_MAX, INT64_MAX / 8, (int64_t)1 << 45};
        result = true;
        for (int i = 0; i < 3; i++) {
            phn_clear_error();
            phn_object* o = phn_object_new_var(VT, huge[i]);
            int32_t code = phn_last_error_code();
            if (o != NULL || (code != PHN_EINVAL && code != PHN_ENOMEM)) {
                fprintf(stderr, "\n  n = %lld: %p, code %d\n", (long long)huge[i], (void*)o, code);
                result = false;
            }
        }
        result = result && nobjs() == n0;
    }
    CHECK_BODY("bad: phn_gc_new(NULL) and phn_gc_new(non-GC type) -> NULL, PHN_EINVAL") {
        phn_clear_error();
        int a = phn_gc_new(NULL) == NULL && has_err(PHN_EINVAL, NULL);
        phn_clear_error();
        int b = phn_gc_new(LEAF) == NULL && has_err(PHN_EINVAL, NULL);
        result = a && b;
    }
    CHECK_BODY("bad: phn_incref(NULL) / phn_decref(NULL) do not crash; phn_refcnt(NULL) == 0") {
        phn_incref(NULL);
        phn_decref(NULL);
        result = phn_refcnt(NULL) == 0;
    }
    CHECK_BODY("bad: a NULL object: set_refcnt, set_immortal, gc_track, gc_untrack, object_free, call_finalizer -> "
               "PHN_EINVAL; gc_is_tracked < 0; gc_resize -> NULL") {
        int r[8];
        phn_clear_error(); r[0] = phn_set_refcnt(NULL, 1) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL;
        phn_clear_error(); r[1] = phn_object_set_immortal(NULL) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL;
        phn_clear_error(); r[2] = phn_gc_track(NULL) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL;
        phn_clear_error(); r[3] = phn_gc_untrack(NULL) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL;
        phn_clear_error(); r[4] = phn_object_free(NULL) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL;
        phn_clear_error(); r[5] = phn_object_call_finalizer(NULL) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL;
        phn_clear_error(); r[6] = phn_gc_is_tracked(NULL) < 0;
        phn_clear_error(); r[7] = phn_gc_resize(NULL, 1) == NULL && phn_last_error_code() == PHN_EINVAL;
        result = true;
        for (int i = 0; i < 8; i++)
            if (!r[i]) { fprintf(stderr, "\n  case %d failed", i); result = false; }
    }
    CHECK_BODY("bad: phn_gc_track on a non-GC object -> PHN_EINVAL, not tracked, no fatal error") {
        phn_object* o = new_obj(LEAF);
        fatal_catch();
        phn_clear_error();
        int32_t rc = phn_gc_track(o);
        fatal_restore();
        result = rc == PHN_EINVAL && has_err(PHN_EINVAL, NULL) && phn_gc_is_tracked(o) == 0 && fatal_calls == 0;
        PHN_DECREF(o);
    }
}

/* phn_object_call_finalizer (PyObject_CallFinalizer): once for a GC object */
static void test_call_finalizer(void) {
    gc_scenario_start();
    CHECK_BODY("phn_object_call_finalizer on an FNode: finalize once, is_finalized 1; a second call does nothing") {
        Node* f = new_node(FT);
        int fin0 = phn_gc_is_finalized(&f->ob);
        int32_t a = phn_object_call_finalizer(&f->ob);
        int32_t b = phn_object_call_finalizer(&f->ob);
        int n = glog_count(EV_FINALIZE, f->id);
        int fin1 = phn_gc_is_finalized(&f->ob);
        int64_t id = f->id;
        PHN_DECREF(f);   /* finalizer already ran: the dealloc does not run it again */
        result = fin0 == 0 && a == PHN_OK && b == PHN_OK && n == 1 && fin1 == 1 && glog_count(EV_FINALIZE, id) == 1 &&
                 glog_count(EV_DEALLOC, id) == 1;
    }
}

/* ================================================================== --deep child: 7, 8, 9 */

static int depth_ok(const char* what) {
    int r = dealloc_max_depth >= 1 && dealloc_max_depth <= PHN_TRASHCAN_DEPTH + DEPTH_MARGIN;
    fprintf(stderr, "[%s: max dealloc depth %d] ", what, dealloc_max_depth);
    return r;
}

/* a chain of n objects, each owning the next through slot 0 (the head is returned, the
 * test's only reference); leaf_t != NULL: slot 1 of each link owns a new leaf_t object.
 * alt != NULL: every other link is of type alt. */
static phn_object* build_chain(phn_type* t, phn_type* alt, phn_type* leaf_t, long n, phn_object* tail_payload) {
    int32_t s = phn_gil_ensure();
    phn_object* prev = tail_payload;
    for (long i = 0; i < n; i++) {
        phn_object* o = new_obj(alt && (i & 1) ? alt : t);
        ((Node*)o)->slot[0] = prev;
        if (leaf_t) ((Node*)o)->slot[1] = new_obj(leaf_t);
        prev = o;
    }
    phn_gil_release(s);
    return prev;
}

static void deep_chains(void) {
    gc_scenario_start();
    CHECK_BODY("7 [callback]: 10^6-deep chain of Nodes, drop the head: 10^6 deallocs and frees, dealloc depth <= "
               "PHN_TRASHCAN_DEPTH + 5; collect() 0; objects back") {
        int64_t base = nobjs();
        phn_object* head = build_chain(NT, NULL, NULL, MILLION, NULL);
        int64_t mid = nobjs();
        glog_reset();
        PHN_DECREF(head);
        int d = depth_ok("callback chain");
        long da = ev(EV_DEALLOC), fr = ev(EV_FREE);
        int64_t c = phn_gc_collect(2);
        result = mid == base + MILLION && da == MILLION && fr == MILLION && d && c == 0 && nobjs() == base;
        if (!result) fprintf(stderr, "\n  deallocs %ld frees %ld collect %lld\n", da, fr, (long long)c);
    }
    gc_scenario_start();
    CHECK_BODY("7 [callback, GIL held by the caller]: 10^6-deep chain of Nodes dropped with the GIL held (phn_dealloc "
               "runs in C, outermost too, and its trashcan is drained when it returns): 10^6 deallocs and frees, depth "
               "bounded; collect() 0; objects back") {
        int64_t base = nobjs();
        phn_object* head = build_chain(NT, NULL, NULL, MILLION, NULL);
        glog_reset();
        int32_t s = phn_gil_ensure();
        PHN_DECREF(head);
        long da = ev(EV_DEALLOC), fr = ev(EV_FREE);   /* all of it before the GIL goes */
        phn_gil_release(s);
        int d = depth_ok("callback chain, GIL held");
        int64_t c = phn_gc_collect(2);
        result = da == MILLION && fr == MILLION && d && c == 0 && nobjs() == base;
        if (!result) fprintf(stderr, "\n  deallocs %ld frees %ld collect %lld\n", da, fr, (long long)c);
    }
    gc_scenario_start();
    CHECK_BODY("7 [callback, [prev, leaf]]: 10^6 two-slot Nodes each owning a non-GC leaf: 2 x 10^6 deallocs, depth "
               "bounded; collect() 0") {
        int64_t base = nobjs();
        phn_object* head = build_chain(NT, NULL, NGT, MILLION, NULL);
        glog_reset();
        PHN_DECREF(head);
        int d = depth_ok("[prev, leaf] chain");
        long da = ev(EV_DEALLOC), fr = ev(EV_FREE);
        int64_t c = phn_gc_collect(2);
        result = da == 2 * MILLION && fr == 2 * MILLION && d && c == 0 && nobjs() == base;
        if (!result) fprintf(stderr, "\n  deallocs %ld frees %ld collect %lld\n", da, fr, (long long)c);
    }
    gc_scenario_start();
    CHECK_BODY("7 [layout]: 10^6-deep chain of LNodes ending in a Node: freed (the Node deallocated once, objects back "
               "to the baseline); collect() 0") {
        int64_t base = nobjs();
        Node* n = new_node(NT);
        int64_t nid = n->id;
        phn_object* head = build_chain(LT, NULL, NULL, MILLION, &n->ob);
        int64_t mid = nobjs();
        glog_reset();
        PHN_DECREF(head);
        int64_t after = nobjs();
        int64_t c = phn_gc_collect(2);
        result = mid == base + MILLION + 1 && glog_count(EV_DEALLOC, nid) == 1 && after == base && c == 0;
        if (!result) fprintf(stderr, "\n  objects %lld / %lld / %lld collect %lld\n", (long long)base, (long long)mid, (long long)after, (long long)c);
    }
    gc_scenario_start();
    CHECK_BODY("7 [layout, [prev, leaf]]: 10^6 LNodes each owning a non-GC callback leaf: 10^6 leaf deallocs, "
               "objects back; collect() 0") {
        int64_t base = nobjs();
        phn_object* head = build_chain(LT, NULL, NGT, MILLION, NULL);
        glog_reset();
        PHN_DECREF(head);
        long da = ev(EV_DEALLOC);
        int d = depth_ok("layout [prev, leaf] chain");
        int64_t c = phn_gc_collect(2);
        result = da == MILLION && d && nobjs() == base && c == 0;
        if (!result) fprintf(stderr, "\n  deallocs %ld collect %lld\n", da, (long long)c);
    }
    gc_scenario_start();
    CHECK_BODY("7 [mixed]: 10^6-deep chain alternating Node and non-GC LNode: 5 x 10^5 Node deallocs, depth bounded") {
        int64_t base = nobjs();
        phn_object* head = build_chain(NT, LNT, NULL, MILLION, NULL);
        glog_reset();
        PHN_DECREF(head);
        int d = depth_ok("mixed chain");
        long da = ev(EV_DEALLOC);
        result = da == MILLION / 2 && d && nobjs() == base && phn_gc_collect(2) == 0;
        if (!result) fprintf(stderr, "\n  deallocs %ld\n", da);
    }
}

/* 8: 150-deep chains with finalizers that collect */
static void deep_trashcan_finalizers(void) {
    static phn_type* TF;   /* FNode with per-id tallies */
    if (!TF) TF = tally_type("TallyFNode", NV_FIN);
    gc_scenario_start();
    CHECK_BODY("8: chains of 150 FNodes each owning the next, every 17th finalizer calls collect(): no crash; every "
               "node finalized once and deallocated once") {
        tally_reset();
        int64_t base = nobjs();
        const int CH = 8, N = 150;
        phn_object* heads[8];
        int64_t first = next_node_id;
        long made = 0;
        for (int c = 0; c < CH; c++) {
            phn_object* prev = NULL;
            for (int i = 0; i < N; i++) {
                Node* f = (Node*)new_obj(TF);
                f->action = (made % 17 == 16) ? ACT_COLLECT : ACT_NONE;
                made++;
                f->slot[0] = prev;
                prev = &f->ob;
            }
            heads[c] = prev;
        }
        int64_t last = next_node_id;
        last_collect_in_callback = -12345;
        for (int c = 0; c < CH; c++) PHN_DECREF(heads[c]);
        int once = tally_out_of_range == 0;
        for (int64_t id = first; id < last; id++)
            if (tally_fin[id - tally_base] != 1 || tally_dealloc[id - tally_base] != 1) {
                if (once) fprintf(stderr, "\n  id %lld: finalized %d, dealloc %d", (long long)id, tally_fin[id - tally_base],
                                  tally_dealloc[id - tally_base]);
                once = 0;
            }
        result = once && ev(EV_FINALIZE) == CH * N && ev(EV_FREE) == CH * N && last_collect_in_callback >= 0 &&
                 nobjs() == base && phn_gc_collect(2) == 0;
        if (!result)
            fprintf(stderr, "\n  finalize %ld free %ld collect-in-finalizer %lld objects %lld (base %lld)\n", ev(EV_FINALIZE),
                    ev(EV_FREE), (long long)last_collect_in_callback, (long long)nobjs(), (long long)base);
    }
    gc_scenario_start();
    CHECK_BODY("8 (test_gc.test_trashcan shape): automatic collection on (threshold 50); two rounds of t = [t, "
               "FNode] chains x 3 of depth 150, the previous round dropped by the next: every FNode finalized and "
               "deallocated once, every container once") {
        tally_reset();
        int64_t base = nobjs();
        phn_gc_set_threshold(50, 10, 10);
        phn_gc_enable();
        const int N = 150;
        phn_object* chains[3] = {NULL, NULL, NULL};
        long fnodes = 0, containers = 0;
        int64_t first = next_node_id;
        for (int round = 0; round < 2; round++) {
            for (int c = 0; c < 3; c++) {
                phn_object* t = new_obj(c == 1 ? LT : NT);   /* u's containers: layout nodes */
                containers++;
                for (int i = 0; i < N; i++) {
                    Node* o = (Node*)new_obj(TF);
                    o->action = (fnodes % 17 == 16) ? ACT_COLLECT : ACT_NONE;
                    fnodes++;
                    Node* box = (Node*)new_obj(c == 1 ? LT : NT);
                    containers++;
                    box->slot[0] = t;
                    box->slot[1] = &o->ob;
                    t = &box->ob;
                }
                PHN_XSETREF(chains[c], t);   /* drops the previous round's chain */
            }
        }
        for (int c = 0; c < 3; c++) PHN_CLEAR(chains[c]);
        phn_gc_disable();
        phn_gc_set_threshold(2000, 10, 10);
        int64_t last = next_node_id;
        int once = tally_out_of_range == 0;
        long nf = 0;
        for (int64_t id = first; id < last; id++) {
            if (tally_dealloc[id - tally_base] == 0 && tally_fin[id - tally_base] == 0) continue;   /* a container */
            nf++;
            if (tally_fin[id - tally_base] != 1 || tally_dealloc[id - tally_base] != 1) {
                if (once) fprintf(stderr, "\n  id %lld: finalized %d, dealloc %d", (long long)id, tally_fin[id - tally_base],
                                  tally_dealloc[id - tally_base]);
                once = 0;
            }
        }
        /* the callback containers (t and v chains) are logged too; the layout ones are counted by nobjs */
        long cb_containers = containers / 3 * 2;
        result = once && nf == fnodes && ev(EV_FINALIZE) == fnodes && ev(EV_DEALLOC) == fnodes + cb_containers &&
                 ev(EV_FREE) == fnodes + cb_containers && nobjs() == base && phn_gc_collect(2) == 0;
        if (!result)
            fprintf(stderr, "\n  fnodes %ld (seen %ld), containers %ld, finalize %ld, dealloc %ld, free %ld, objects %lld "
                    "(base %lld)\n", fnodes, nf, containers, ev(EV_FINALIZE), ev(EV_DEALLOC), ev(EV_FREE),
                    (long long)nobjs(), (long long)base);
    }
}

/* 9: rings */
static phn_object* build_ring(phn_type* t, long n) {
    int32_t s = phn_gil_ensure();
    phn_object* first = new_obj(t);
    phn_object* prev = first;
    for (long i = 1; i < n; i++) {
        phn_object* o = new_obj(t);
        ((Node*)prev)->slot[0] = o;   /* steals o's reference */
        prev = o;
    }
    ((Node*)prev)->slot[0] = phn_new_ref(first);
    phn_gil_release(s);
    return first;   /* the test's reference */
}

static void deep_rings(void) {
    gc_scenario_start();
    CHECK_BODY("9 [callback]: a dropped ring of 10^6 Nodes: collect() returns 1,000,000; every node deallocated and "
               "freed once (10^6 each); teardown depth bounded; objects back; the next collect() 0") {
        int64_t base = nobjs();
        phn_object* r = build_ring(NT, MILLION);
        PHN_DECREF(r);
        glog_reset();
        double t0 = now_s();
        int64_t c = phn_gc_collect(2);
        double t1 = now_s();
        int d = depth_ok("ring teardown");
        long da = ev(EV_DEALLOC), fr = ev(EV_FREE);
        int64_t c2 = phn_gc_collect(2);
        fprintf(stderr, "[collect of 10^6: %.2f s] ", t1 - t0);
        result = c == MILLION && da == MILLION && fr == MILLION && d && nobjs() == base && c2 == 0;
        if (!result) fprintf(stderr, "\n  collect %lld deallocs %ld frees %ld then %lld\n", (long long)c, da, fr, (long long)c2);
    }
}

static int deep_child(void) {
    alarm(120);
    setup_types();
    double t0 = now_s();
    deep_chains();
    double t1 = now_s();
    deep_trashcan_finalizers();
    deep_rings();
    fprintf(stderr, "\n[deep: chains %.2f s, the rest %.2f s]\n", t1 - t0, now_s() - t1);
    return print_test_summary();
}

/* ================================================================== --small-stack child */

#define SMALL_STACK ((size_t)256 * 1024)

typedef struct small_job {
    int kind;
    phn_object* obj;
    int64_t collected;
    int max_depth;
    int ran;
} small_job;

static void* small_main(void* p) {
    small_job* j = (small_job*)p;
    int32_t s = phn_gil_ensure();
    dealloc_depth = dealloc_max_depth = 0;
    if (j->kind == 0) {
        PHN_DECREF(j->obj);
    } else {
        PHN_DECREF(j->obj);
        j->collected = phn_gc_collect(2);
    }
    j->max_depth = dealloc_max_depth;
    j->ran = 1;
    phn_gil_release(s);
    return NULL;
}

static int run_small(small_job* j) {
    pthread_attr_t a;
    pthread_t th;
    pthread_attr_init(&a);
    if (pthread_attr_setstacksize(&a, SMALL_STACK) != 0) return 0;
    int ok_ = pthread_create(&th, &a, small_main, j) == 0;
    if (ok_) pthread_join(th, NULL);
    pthread_attr_destroy(&a);
    return ok_ && j->ran;
}

static int small_child(void) {
    alarm(120);
    setup_types();
    gc_scenario_start();
    CHECK_BODY("7 [callback] on a 256 KiB-stack thread: a 10^6-deep chain of Nodes dropped there: 10^6 deallocs, "
               "depth bounded") {
        int64_t base = nobjs();
        small_job j = {0, build_chain(NT, NULL, NULL, MILLION, NULL), 0, 0, 0};
        glog_reset();
        int ran = run_small(&j);
        dealloc_max_depth = j.max_depth;
        int d = depth_ok("callback chain, small stack");
        result = ran && ev(EV_DEALLOC) == MILLION && ev(EV_FREE) == MILLION && d && nobjs() == base;
        if (!result) fprintf(stderr, "\n  ran %d deallocs %ld\n", ran, ev(EV_DEALLOC));
    }
    gc_scenario_start();
    CHECK_BODY("7 [layout] on a 256 KiB-stack thread: a 10^6-deep chain of LNodes ending in a Node: freed there") {
        int64_t base = nobjs();
        Node* n = new_node(NT);
        int64_t nid = n->id;
        small_job j = {0, build_chain(LT, NULL, NULL, MILLION, &n->ob), 0, 0, 0};
        glog_reset();
        int ran = run_small(&j);
        result = ran && glog_count(EV_DEALLOC, nid) == 1 && nobjs() == base;
    }
    gc_scenario_start();
    CHECK_BODY("7 [layout, non-GC] on a 256 KiB-stack thread: a 10^6-deep chain of non-GC LNodes, each owning a "
               "non-GC callback leaf: 10^6 leaf deallocs") {
        phn_object* head = build_chain(LNT, NULL, NGT, MILLION, NULL);
        small_job j = {0, head, 0, 0, 0};
        glog_reset();
        int ran = run_small(&j);
        result = ran && ev(EV_DEALLOC) == MILLION;
        if (!result) fprintf(stderr, "\n  ran %d deallocs %ld\n", ran, ev(EV_DEALLOC));
    }
    gc_scenario_start();
    CHECK_BODY("7 [mixed] on a 256 KiB-stack thread: a 10^6-deep chain alternating LNode and Node") {
        int64_t base = nobjs();
        small_job j = {0, build_chain(LT, NT, NULL, MILLION, NULL), 0, 0, 0};
        glog_reset();
        int ran = run_small(&j);
        dealloc_max_depth = j.max_depth;
        int d = depth_ok("mixed chain, small stack");
        result = ran && ev(EV_DEALLOC) == MILLION / 2 && d && nobjs() == base;
    }
    gc_scenario_start();
    CHECK_BODY("9 [layout] on a 256 KiB-stack thread: a dropped ring of 10^6 LNodes, one owning a Node: collect() "
               "there returns 1,000,001; the Node deallocated; objects back") {
        int64_t base = nobjs();
        phn_object* r = build_ring(LT, MILLION);
        Node* n = new_node(NT);
        int64_t nid = n->id;
        ((Node*)r)->slot[3] = &n->ob;
        small_job j = {1, r, -1, 0, 0};
        glog_reset();
        int ran = run_small(&j);
        result = ran && j.collected == MILLION + 1 && glog_count(EV_DEALLOC, nid) == 1 && nobjs() == base &&
                 phn_gc_collect(2) == 0;
        if (!result) fprintf(stderr, "\n  ran %d collected %lld objects %lld (base %lld)\n", ran, (long long)j.collected,
                             (long long)nobjs(), (long long)base);
    }
    return print_test_summary();
}

/* ================================================================== --threads child */

#define NTHREADS 4
#define ITERS 2000
#define BATCH 12
#define FREE_ITERS 100000

static Node* hub;              /* shared, callback Node: slot t is thread t's */
static phn_object* hub2;       /* shared layout node, any thread writes any slot */
static phn_object* shared_l;   /* hammered by phn_incref / phn_decref without the GIL */
static long created_cb;        /* callback Nodes created (under the GIL) */
static long created_cb_free;   /* by the free threads (atomic) */
static int thread_bad;

static void* gil_worker(void* p) {
    int t = (int)(intptr_t)p;
    unsigned seed = 1234u + (unsigned)t;
    for (int it = 0; it < ITERS; it++) {
        int32_t s = phn_gil_ensure();
        if (s != PHN_GIL_UNLOCKED || phn_gil_held() != 1) thread_bad = 1;
        for (int b = 0; b < BATCH; b++) {
            Node* a = new_node(NT);
            phn_object* l = new_obj(LT);
            Node* c = new_node(NT);
            created_cb += 2;
            node_set(a, 0, l);          /* a -> l -> c -> a: a 3-cycle */
            node_set((Node*)l, 0, c);
            node_set(c, 0, a);
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 3 == 0) node_set(hub, t, a);                          /* keeps the cycle alive */
            if ((seed >> 16) % 5 == 0) node_set((Node*)hub2, (int)((seed >> 20) % NODE_SLOTS), l);
            if ((seed >> 16) % 7 == 0) node_set(c, 1, hub);                          /* a cycle through the hub */
            if ((seed >> 16) % 11 == 0) node_set(c, 1, NULL);
            if (b == 0) {   /* a var object holding itself and a: one more cycle */
                phn_object* v = new_var(VT, 3);
                items_of(v, 24)[0] = phn_new_ref(&a->ob);
                items_of(v, 24)[2] = phn_new_ref(v);
                if ((seed >> 16) % 2 == 0) node_set(c, 2, v);
                PHN_DECREF(v);
            }
            PHN_DECREF(a);
            PHN_DECREF(l);
            PHN_DECREF(c);
        }
        if (it % 10 == t % 10) {
            int64_t r = phn_gc_collect(it % 3);
            if (r < 0) thread_bad = 1;
        }
        phn_gil_release(s);
        if (phn_gil_held() != 0) thread_bad = 1;
        if (it % 16 == 0) sched_yield();
    }
    return NULL;
}

static void* free_worker(void* p) {
    int t = (int)(intptr_t)p;
    for (int i = 0; i < FREE_ITERS; i++) {
        phn_object* o = phn_object_new(i % 2 ? LT : NT);   /* takes the GIL itself; the Node's id stays 0 */
        if (o == NULL) { thread_bad = 1; break; }
        if (!(i % 2)) __atomic_fetch_add(&created_cb_free, 1, __ATOMIC_RELAXED);
        phn_incref(shared_l);
        phn_decref(o);
        phn_decref(shared_l);
        if (i % 5000 == t) {
            if (phn_gc_collect(i % 3) < 0) thread_bad = 1;
        }
        if (phn_gil_held() != 0) thread_bad = 1;
    }
    return NULL;
}

static int threads_child(void) {
    alarm(120);
    CHECK("threads: phn_gil_held() == 0 at the start of a fresh process", phn_gil_held() == 0);
    setup_types();
    gc_scenario_start();
    int64_t base = nobjs();
    int32_t s = phn_gil_ensure();
    hub = new_node(NT);
    hub2 = new_obj(LT);
    shared_l = new_obj(LT);
    created_cb = 1;
    phn_gil_release(s);
    phn_gc_set_threshold(300, 10, 10);
    phn_gc_enable();
    double t0 = now_s();
    pthread_t th[NTHREADS + 2];
    int made = 0;
    for (int i = 0; i < NTHREADS; i++) made += pthread_create(&th[i], NULL, gil_worker, (void*)(intptr_t)i) == 0;
    for (int i = 0; i < 2; i++) made += pthread_create(&th[NTHREADS + i], NULL, free_worker, (void*)(intptr_t)i) == 0;
    for (int i = 0; i < made; i++) pthread_join(th[i], NULL);
    double t1 = now_s();
    phn_gc_disable();
    phn_gc_set_threshold(2000, 10, 10);
    fprintf(stderr, "[threads: %.2f s] ", t1 - t0);
    CHECK("threads: 6 threads ran; each saw ensure -> UNLOCKED / held 1 and held 0 after release; no call failed",
          made == NTHREADS + 2 && thread_bad == 0);
    CHECK_BODY("threads: the shared object's count is back to 1 after 2 x 100000 phn_incref / phn_decref without "
               "phn_gil_ensure") {
        result = PHN_REFCNT(shared_l) == 1;
        if (!result) fprintf(stderr, "\n  count %lld\n", (long long)PHN_REFCNT(shared_l));
    }
    CHECK_BODY("threads: once the shared structure is dropped, a collection frees everything: objects back to the "
               "baseline, every callback Node created deallocated once (frees == deallocs)") {
        s = phn_gil_ensure();
        for (int i = 0; i < NODE_SLOTS; i++) {
            PHN_CLEAR(hub->slot[i]);
            PHN_CLEAR(((Node*)hub2)->slot[i]);
        }
        PHN_DECREF(hub);
        PHN_DECREF(hub2);
        PHN_DECREF(shared_l);
        phn_gc_collect(2);
        int64_t after = nobjs();
        long expect = created_cb + created_cb_free;
        result = after == base && ev(EV_DEALLOC) == expect && ev(EV_FREE) == ev(EV_DEALLOC) && phn_gc_collect(2) == 0;
        if (!result)
            fprintf(stderr, "\n  objects %lld (base %lld), deallocs %ld, frees %ld, created %ld\n", (long long)after,
                    (long long)base, ev(EV_DEALLOC), ev(EV_FREE), expect);
        phn_gil_release(s);
    }
    return print_test_summary();
}

/* ================================================================== --fatal child */

static int fatal_child(const char* which) {
    setup_types();
    phn_gc_disable();
    if (strcmp(which, "double_track") == 0) {
        phn_object* o = phn_object_new(NT);
        phn_gc_track(o);
    } else if (strcmp(which, "double_track_gc_new") == 0) {
        phn_object* o = phn_gc_new(LT);
        memset((char*)o + sizeof(phn_object), 0, sizeof(Node) - sizeof(phn_object));
        phn_gc_track(o);
        phn_gc_track(o);
    } else if (strcmp(which, "resize_tracked") == 0) {
        phn_object* v = phn_object_new_var(VT, 2);
        phn_gc_resize(v, 4);
    } else if (strcmp(which, "negative_macro") == 0) {
        phn_object* o = phn_object_new(LEAF);
        PHN_SET_REFCNT(o, 0);
        printf("LINE=%d\n", __LINE__); fflush(stdout); PHN_DECREF(o);
    } else if (strcmp(which, "negative_func") == 0) {
        phn_object* o = phn_object_new(LEAF);
        phn_set_refcnt(o, 0);
        phn_decref(o);
    } else if (strcmp(which, "negative_func_gc") == 0) {
        phn_object* o = phn_object_new(NT);
        phn_set_refcnt(o, 0);
        phn_decref(o);
    } else if (strcmp(which, "negative_func_layout") == 0) {
        phn_object* o = phn_object_new(LT);
        phn_set_refcnt(o, 0);
        phn_decref(o);
    } else if (strcmp(which, "finalizer_nonzero") == 0) {
        phn_object* o = phn_object_new(FT);
        phn_object_call_finalizer_from_dealloc(o);
    } else {
        printf("unknown case\n");
        return 2;
    }
    printf("survived\n");
    fflush(stdout);
    return 0;
}

typedef struct fatal_case {
    const char* name;
    const char* what;
    const char* pattern;   /* "%d" replaced by the child's LINE= value when present */
} fatal_case;

static const fatal_case FATAL_CASES[] = {
    {"double_track", "phn_gc_track on an object phn_object_new already tracked",
     "Fatal error: [^\n]*object already tracked by the garbage collector"},
    {"double_track_gc_new", "phn_gc_new, phn_gc_track twice", "Fatal error: [^\n]*object already tracked by the garbage collector"},
    {"resize_tracked", "phn_gc_resize of a tracked var object", "Fatal error: [^\n]*phn_gc_resize: object is tracked"},
    {"negative_macro", "PHN_REF_DEBUG: PHN_SET_REFCNT(op, 0) then PHN_DECREF",
     /* CPython reports the caller's file:line; the header's check sits in an inline function
        of phn_object.h, whose __FILE__ / __LINE__ are the header's: both are accepted */
     "Fatal error: [^\n]*(test_objects\\.c:%d|phn_object\\.h:[0-9]+): _Py_NegativeRefcount: Assertion failed: "
     "object has negative ref count"},
    {"negative_func", "phn_set_refcnt(op, 0) then phn_decref (Leaf)",
     "Fatal error: [^\n]*:[0-9]+: _Py_NegativeRefcount: Assertion failed: object has negative ref count"},
    {"negative_func_gc", "phn_set_refcnt(op, 0) then phn_decref (tracked Node)",
     "Fatal error: [^\n]*:[0-9]+: _Py_NegativeRefcount: Assertion failed: object has negative ref count"},
    {"negative_func_layout", "phn_set_refcnt(op, 0) then phn_decref (tracked layout node)",
     "Fatal error: [^\n]*:[0-9]+: _Py_NegativeRefcount: Assertion failed: object has negative ref count"},
    {"finalizer_nonzero", "phn_object_call_finalizer_from_dealloc on an object whose count is 1",
     "Fatal error: [^\n]*([Rr]ef(erence)? ?[Cc](ou)?nt|refcnt|[Cc]all_?[Ff]inalizer_?[Ff]rom_?[Dd]ealloc)"},
};

static void run_fatal_case(const fatal_case* c) {
    child_result r;
    if (run_self("--fatal", c->name, NULL, &r) != 0) {
        memset(&r, 0, sizeof r);
        r.out = strdup("");
        r.err = strdup("");
    }
    char name[1024];
    snprintf(name, sizeof name, "fatal %s: %s: SIGABRT, the call does not return", c->name, c->what);
    CHECK_BODY(name) {
        result = r.signaled && r.signo == SIGABRT && strstr(r.out, "survived") == NULL;
        if (!result) {
            fprintf(stderr, "\n  child ");
            describe_child(&r);
            echo_prefixed("out", r.out);
            echo_prefixed("err", r.err);
        }
    }
    char pat[400];
    const char* line = strstr(r.out, "LINE=");
    if (strstr(c->pattern, "%d")) snprintf(pat, sizeof pat, c->pattern, line ? atoi(line + 5) : -1);
    else snprintf(pat, sizeof pat, "%s", c->pattern);
    char shown[600];
    size_t k = 0;
    for (const char* q = pat; *q && k + 3 < sizeof shown; q++) {
        if (*q == '\n') { shown[k++] = '\\'; shown[k++] = 'n'; }
        else shown[k++] = *q;
    }
    shown[k] = '\0';
    snprintf(name, sizeof name, "fatal %s: stderr matches /%s/", c->name, shown);
    CHECK_BODY(name) {
        result = regex_search(pat, r.err) == 1;
        if (!result) echo_prefixed("err", r.err);
    }
    child_result_free(&r);
}

/* ================================================================== main */

int main(int argc, char** argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "--deep") == 0) return deep_child();
        if (strcmp(argv[1], "--small-stack") == 0) return small_child();
        if (strcmp(argv[1], "--threads") == 0) return threads_child();
        if (strcmp(argv[1], "--fatal") == 0 && argc > 2) return fatal_child(argv[2]);
    }
    alarm(240);
    double t0 = now_s();
    CHECK("GIL: phn_gil_held() == 0 initially (first call of the process)", phn_gil_held() == 0);
    setup_types();
    test_gil();
    scenario1();
    scenario2();
    scenario3();
    scenario4();
    scenario5();
    scenario10();
    scenario11();
    scenario12();
    scenario13();
    test_var();
    test_call_finalizer();
    test_bad_input();
    fprintf(stderr, "\n[in-process: %.2f s]\n", now_s() - t0);

    run_child_suite("--deep", NULL);
    run_child_suite("--small-stack", NULL);
    run_child_suite("--threads", NULL);
    fprintf(stderr, "\n[fatal cases]\n");
    for (size_t i = 0; i < sizeof FATAL_CASES / sizeof FATAL_CASES[0]; i++) run_fatal_case(&FATAL_CASES[i]);
    fprintf(stderr, "\n[total: %.2f s]\n", now_s() - t0);
    return print_test_summary();
}
