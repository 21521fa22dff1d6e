/* test_finalizers.c - finalizers, legacy finalizers, debug output and weak references in the
 * cyclic collector: spec-gc.md §16.1 scenario 8, §16.5 (32-43), §16.6 (44-48) and §16.7
 * (49-61), against include/pyheapnative/phn_object.h, phn_gc.h, phn_weakref.h.
 *
 * Every scenario runs in a child process of its own (this binary again, "--scenario=<key>";
 * see run_child_suite in phn_test_common.h), so that a crash in one scenario leaves the
 * others' results intact; "--inproc" runs all of them in this process, "--scenario=<key>"
 * one of them. Each scenario starts with gc_scenario_start() (gc_fixture.h: automatic
 * collection off, a full collection, gc.garbage emptied, logs reset, debug flags 0).
 *
 * Types: the fixture's Node variants (node_type), plus hooked variants made here (t_type)
 * that share the fixture's traverse / clear / del / dealloc but call a per-scenario hook from
 * their finalize and clear and count finalize / dealloc calls per node id (the fixture's log
 * holds 4096 events, too few for scenario 8). Layout-described types (layout_node_type) get
 * the weak-reference cases too.
 *
 *   8        trashcan: 150-deep chains of FNodes / [prev, FNode] / [prev, prev, FNode] with a
 *            finalizer calling collect() on every 17th, automatic collection on; a cyclic chain
 *   32-43    PEP 442 finalizers (§5.3, §7.6, §7.7, §7.10)
 *   44-48    tp_del, gc.garbage, DEBUG_SAVEALL, debug output through phn_gc_set_debug_output
 *   49-61    weak references (§7.5, §13); 61 is checked inside 44 and 45
 *   L1-L4    layout-described types (no callbacks; the default dealloc clears weakrefs):
 *            refcount death and cyclic garbage with callbacks, a garbage weakref, a non-GC
 *            WEAKREFABLE layout type; 53 covers a layout type without WEAKREFABLE
 *
 * Run: build as native-tests/run.sh does, then ./test_finalizers (one child per scenario),
 * ./test_finalizers --inproc, or ./test_finalizers --scenario=s44 (keys: s08, s32..s60, L1..L4).
 */
#include "testhelper.h"
#include "phn_test_common.h"
#include "gc_fixture.h"

#define O(x) ((phn_object*)(x))

/* ================================================================== types */

static phn_type *T_Node, *T_WNode, *T_Holder, *T_DNode, *T_DelNode, *T_NGF, *T_Leaf;
static phn_type *T_FNode, *T_FWNode, *T_CWNode, *T_8F, *T_8C;
static phn_type *T_LNode, *T_LNodeNW, *T_LHolderW;

/* per-id counters of finalize and dealloc calls (hooked types only) */
enum { IDC_FIN, IDC_DEALLOC, IDC__COUNT };
static int32_t* idc[IDC__COUNT];
static int64_t idc_cap;

static void idc_bump(int which, int64_t id) {
    if (id < 0) return;
    if (id >= idc_cap) {
        int64_t nc = idc_cap ? idc_cap * 2 : 4096;
        while (nc <= id) nc *= 2;
        for (int k = 0; k < IDC__COUNT; k++) {
            int32_t* p = (int32_t*)realloc(idc[k], (size_t)nc * sizeof(int32_t));
            if (!p) abort();
            memset(p + idc_cap, 0, (size_t)(nc - idc_cap) * sizeof(int32_t));
            idc[k] = p;
        }
        idc_cap = nc;
    }
    idc[which][id]++;
}
static int32_t idc_get(int which, int64_t id) { return (id >= 0 && id < idc_cap) ? idc[which][id] : 0; }
static void idc_reset(void) {
    for (int k = 0; k < IDC__COUNT; k++)
        if (idc[k]) memset(idc[k], 0, (size_t)idc_cap * sizeof(int32_t));
}

typedef void (*node_hook)(Node* self);
static node_hook fin_hook, clear_hook;
static int gil_bad;   /* callbacks that ran without the GIL */

static int32_t PHN_CALL t_finalize(phn_object* self) {
    Node* n = (Node*)self;
    if (phn_gil_held() != 1) gil_bad++;
    glog_add(EV_FINALIZE, n->id);
    idc_bump(IDC_FIN, n->id);
    if (fin_hook) fin_hook(n);
    return node_act(n);
}

static int32_t PHN_CALL t_clear(phn_object* self) {
    if (clear_hook) clear_hook((Node*)self);
    return node_clear(self);
}

static void PHN_CALL t_dealloc(phn_object* self) {
    idc_bump(IDC_DEALLOC, ((Node*)self)->id);
    node_dealloc(self);
}

/* A Node variant like node_type's, with the hooked finalize / clear and the counting dealloc. */
static phn_type* t_type(const char* name, unsigned variant) {
    return node_type_with(name, variant, t_clear, t_finalize, t_dealloc);
}

static void setup_types(void) {
    T_Node = node_type("Node", 0);
    T_WNode = node_type("WNode", NV_WEAK);
    T_Holder = node_type("Holder", NV_NOGC);
    T_DNode = node_type("DNode", NV_DEL | NV_FIN | NV_WEAK);
    T_DelNode = node_type("DelNode", NV_DEL);
    T_NGF = node_type("NGF", NV_NOGC | NV_FIN);
    T_Leaf = leaf_type();
    T_FNode = t_type("FNode", NV_FIN);
    T_FWNode = t_type("FWNode", NV_FIN | NV_WEAK);
    T_CWNode = t_type("CWNode", NV_WEAK);
    T_8F = t_type("TFNode", NV_FIN);
    T_8C = t_type("TNode", 0);
    T_LNode = layout_node_type("LNode", PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_WEAKREFABLE);
    T_LNodeNW = layout_node_type("LNodeNW", PHN_TPFLAGS_HAVE_GC);
    T_LHolderW = layout_node_type("LHolderW", PHN_TPFLAGS_WEAKREFABLE);
}

/* ================================================================== error handler */

static int err_calls, err_ctx_bad;
static int32_t err_code;
static char err_msg[1024];
static int err_marker;

static void PHN_CALL on_error(void* ctx, int32_t code, const char* message) {
    if (ctx != &err_marker) err_ctx_bad++;
    err_calls++;
    err_code = code;
    snprintf(err_msg, sizeof err_msg, "%s", message ? message : "(null)");
}

static void err_reset(void) {
    err_calls = 0;
    err_ctx_bad = 0;
    err_code = 0;
    err_msg[0] = '\0';
}

/* exactly n reports, the last one a callback failure (PHN_ECALLBACK where the header has it) */
static int callback_failures_reported(int n) {
#ifdef PHN_ECALLBACK
    int code_ok = err_code == PHN_ECALLBACK;
#else
    int code_ok = err_code < 0;
#endif
    int good = err_calls == n && err_ctx_bad == 0 && (n == 0 || (code_ok && err_msg[0] != '\0'));
    if (!good)
        fprintf(stderr, "\n  error handler: %d call(s) (expected %d), last code %d, message \"%s\", ctx mismatches %d",
                err_calls, n, err_code, err_msg, err_ctx_bad);
    return good;
}

/* ================================================================== small helpers */

static const char* cur_scenario = "";

/* the probes the hooks of a scenario read and write */
static struct {
    Node *a, *b, *c;
    phn_object* w;
    int r1, r2, r3, r4;
} P;

static void start(const char* name) {
    cur_scenario = name;
    fprintf(stderr, "\n[%s]\n", name);
    fin_hook = NULL;
    clear_hook = NULL;
    memset(&P, 0, sizeof P);
    P.r1 = P.r2 = P.r3 = P.r4 = -1;
    gc_scenario_start();
    err_reset();
    idc_reset();
    gil_bad = 0;
    last_collect_in_callback = -12345;
    phn_clear_error();
}

static int eq_(const char* what, int64_t got, int64_t want) {
    if (got != want) fprintf(stderr, "\n  %s: got %lld, expected %lld", what, (long long)got, (long long)want);
    return got == want;
}
#define EQ(got, want) eq_(#got, (int64_t)(got), (int64_t)(want))

/* the log did not overflow (order checks need every event) */
static int log_complete(void) {
    if (glog_len >= GLOG_MAX) fprintf(stderr, "\n  event log overflowed");
    return glog_len < GLOG_MAX;
}

static int glog_last(int event, int64_t id) {
    for (int i = glog_len - 1; i >= 0; i--)
        if (glog[i].event == event && (id < 0 || glog[i].id == id)) return i;
    return -1;
}

/* freed exactly once (the node pointer is only for readability at the call site) */
static int freed_once(const void* node, int64_t id) {
    (void)node;
    return EQ(glog_count(EV_FREE, id), 1);
}

/* the per-generation stats, all three */
typedef struct { int64_t v[3][3]; } gsnap;   /* [generation][collections, collected, uncollectable] */
static gsnap gsnap_now(void) {
    gsnap s;
    for (int g = 0; g < 3; g++)
        for (int f = 0; f < 3; f++) s.v[g][f] = gc_stat(g, f);
    return s;
}
/* generation g: collections +dcoll, collected +dcol, uncollectable +dunc; the others unchanged */
static int gsnap_delta(const gsnap* before, int g, int64_t dcoll, int64_t dcol, int64_t dunc) {
    gsnap now = gsnap_now();
    int good = 1;
    static const char* field[3] = {"collections", "collected", "uncollectable"};
    for (int gg = 0; gg < 3; gg++)
        for (int f = 0; f < 3; f++) {
            int64_t want = gg != g ? 0 : f == 0 ? dcoll : f == 1 ? dcol : dunc;
            int64_t got = now.v[gg][f] - before->v[gg][f];
            if (got != want) {
                fprintf(stderr, "\n  get_stats()[%d].%s grew by %lld, expected %lld", gg, field[f], (long long)got,
                        (long long)want);
                good = 0;
            }
        }
    return good;
}

/* 1 if the weak reference is dead (phn_weakref_get_ref: 0 and NULL). A live answer's reference
 * is leaked on purpose (the referent may be half destroyed when the library is wrong). */
static int wr_dead(phn_object* w) {
    phn_object* o = (phn_object*)&err_marker;
    int32_t r = phn_weakref_get_ref(w, &o);
    return r == 0 && o == NULL;
}

/* 1 if the weak reference resolves to expect (1 and a new reference, released here) */
static int wr_alive_is(phn_object* w, const void* expect) {
    phn_object* o = NULL;
    int32_t r = phn_weakref_get_ref(w, &o);
    int good = r == 1 && o == (const phn_object*)expect;
    if (good) PHN_DECREF(o);
    else fprintf(stderr, "\n  phn_weakref_get_ref: %d, %p (expected 1, %p)", r, (void*)o, expect);
    return good;
}

/* phn_weakref_get_ref on a live referent: 1, *out == expect, and the count grew by one */
static int wr_get_ref_gives_new_ref(phn_object* w, phn_object* expect) {
    intptr_t before = PHN_REFCNT(expect);
    phn_object* o = NULL;
    int32_t r = phn_weakref_get_ref(w, &o);
    int good = r == 1 && o == expect && PHN_REFCNT(expect) == before + 1;
    if (!good) fprintf(stderr, "\n  get_ref: %d, %p, refcnt %ld -> %ld", r, (void*)o, (long)before, (long)PHN_REFCNT(expect));
    if (r == 1 && o == expect) PHN_DECREF(o);
    return good;
}

static int garbage_has(const void* op) {
    int64_t n = phn_gc_garbage_count();
    for (int64_t i = 0; i < n; i++) {
        phn_object* o = NULL;
        if (phn_gc_garbage_get(i, &o) == PHN_OK && o == (const phn_object*)op) return 1;
    }
    return 0;
}

static phn_object* weakref_or_die(void* referent, phn_weakref_callback cb, void* ctx) {
    phn_object* w = phn_weakref_new(O(referent), cb, ctx);
    if (w == NULL) {
        fprintf(stderr, "\n  phn_weakref_new failed: %s\n", phn_last_error_message());
        abort();
    }
    return w;
}

/* ================================================================== weakref callbacks */

typedef struct wcb {
    int64_t id;              /* logged as (EV_WEAKCB, id) */
    int calls;
    phn_object* expect;      /* the weak reference it must receive (NULL: not checked) */
    int bad_arg;
    int alive_inside;        /* calls in which the weak reference still resolved */
    int gil_bad;
    int32_t ret;             /* what it returns (non-zero = failure) */
    int seq;                 /* wcb_seq at its (last) call */
    long fins_at, clears_at; /* gcount[EV_FINALIZE], gcount[EV_CLEAR] at its (last) call */
    phn_object** also;       /* weak references that must all read dead at the call */
    int nalso, also_alive;
    Node* container;         /* PHN_CLEAR(container->slot[slot]) during the call */
    int slot;
} wcb;

static int wcb_seq;

static void wcb_init(wcb* c, int64_t id) {
    memset(c, 0, sizeof *c);
    c->id = id;
    c->seq = -1;
    c->fins_at = c->clears_at = -1;
}

static int32_t PHN_CALL wcb_fn(void* ctx, phn_object* wr) {
    wcb* c = (wcb*)ctx;
    c->calls++;
    c->seq = ++wcb_seq;
    glog_add(EV_WEAKCB, c->id);
    if (phn_gil_held() != 1) c->gil_bad++;
    if (c->expect && wr != c->expect) c->bad_arg++;
    if (wr == NULL || phn_weakref_check(wr) != 1) c->bad_arg++;
    else if (!wr_dead(wr)) c->alive_inside++;
    c->fins_at = gcount[EV_FINALIZE];
    c->clears_at = gcount[EV_CLEAR];
    for (int i = 0; i < c->nalso; i++)
        if (!wr_dead(c->also[i])) c->also_alive++;
    if (c->container) PHN_CLEAR(c->container->slot[c->slot]);
    return c->ret;
}

/* called once, with the right weak reference, dead inside, GIL held */
static int wcb_called_once_dead(const wcb* c) {
    int good = c->calls == 1 && c->bad_arg == 0 && c->alive_inside == 0 && c->gil_bad == 0;
    if (!good)
        fprintf(stderr, "\n  callback %lld: %d call(s), %d bad argument(s), %d alive inside, %d without GIL",
                (long long)c->id, c->calls, c->bad_arg, c->alive_inside, c->gil_bad);
    return good;
}

/* ================================================================== debug output capture */

#define DBG_MAX 512
static char* dbg_lines[DBG_MAX];
static int dbg_n, dbg_ctx_bad;
static int dbg_marker;

static void PHN_CALL dbg_out(void* ctx, const char* line) {
    if (ctx != &dbg_marker) dbg_ctx_bad++;
    if (dbg_n < DBG_MAX) dbg_lines[dbg_n++] = strdup(line ? line : "(null)");
}

static void dbg_reset(void) {
    for (int i = 0; i < dbg_n; i++) free(dbg_lines[i]);
    dbg_n = 0;
    dbg_ctx_bad = 0;
}

static void dbg_dump(void) {
    fprintf(stderr, "\n  captured debug output (%d line(s)):", dbg_n);
    for (int i = 0; i < dbg_n; i++) fprintf(stderr, "\n    |%s|", dbg_lines[i]);
}

/* 1 if line is exactly "gc: <kind> <<type> 0x<hex of op>>" */
static int dbg_line_is(const char* line, const char* kind, const char* type, const void* op) {
    char prefix[160];
    snprintf(prefix, sizeof prefix, "gc: %s <%s 0x", kind, type);
    size_t n = strlen(prefix);
    if (strncmp(line, prefix, n) != 0) return 0;
    const char* hex = line + n;
    if (!((*hex >= '0' && *hex <= '9') || (*hex >= 'a' && *hex <= 'f') || (*hex >= 'A' && *hex <= 'F'))) return 0;
    char* end = NULL;
    unsigned long long v = strtoull(hex, &end, 16);
    return end && strcmp(end, ">") == 0 && (uintptr_t)v == (uintptr_t)op;
}

static int dbg_count(const char* kind, const char* type, const void* op) {
    int n = 0;
    for (int i = 0; i < dbg_n; i++) n += dbg_line_is(dbg_lines[i], kind, type, op);
    return n;
}

static int dbg_index(const char* kind, const char* type, const void* op) {
    for (int i = 0; i < dbg_n; i++)
        if (dbg_line_is(dbg_lines[i], kind, type, op)) return i;
    return -1;
}

/* ================================================================== §16.1 scenario 8 */

static void s08(void) {
    start("8: trashcan with re-entrant finalizers calling collect()");
    int32_t th[3] = {0, 0, 0};
    phn_gc_get_threshold(th);
    phn_gc_set_threshold(25, 5, 5);   /* automatic collections while the chains are built */
    phn_gc_enable();
    const int N = 150;
    int64_t first_id = next_node_id;
    int nfin = 0, nall = 0;
    for (int round = 0; round < 2; round++) {
        /* (a) FNode(k) owns FNode(k-1) */
        Node* head = NULL;
        for (int i = 0; i < N; i++) {
            Node* f = new_node(T_8F);
            nall++;
            f->action = (++nfin % 17 == 0) ? ACT_COLLECT : ACT_NONE;
            f->slot[0] = O(head);   /* our reference moves into f */
            head = f;
        }
        PHN_DECREF(head);
        /* (b) t = [t, FNode()] */
        Node* t = new_node(T_8C);
        nall++;
        for (int i = 0; i < N; i++) {
            Node* c = new_node(T_8C);
            nall++;
            c->slot[0] = O(t);
            Node* f = new_node(T_8F);
            nall++;
            f->action = (++nfin % 17 == 0) ? ACT_COLLECT : ACT_NONE;
            c->slot[1] = O(f);
            t = c;
        }
        PHN_DECREF(t);
        /* (c) u = [u, u, FNode()] */
        Node* u = new_node(T_8C);
        nall++;
        for (int i = 0; i < N; i++) {
            Node* c = new_node(T_8C);
            nall++;
            c->slot[0] = O(u);
            node_set(c, 1, u);
            Node* f = new_node(T_8F);
            nall++;
            f->action = (++nfin % 17 == 0) ? ACT_COLLECT : ACT_NONE;
            c->slot[2] = O(f);
            u = c;
        }
        PHN_DECREF(u);
    }
    int64_t outer_collect_result = last_collect_in_callback;
    phn_gc_disable();
    phn_gc_set_threshold(th[0], th[1], th[2]);
    int64_t mid_id = next_node_id;
    int depth_refcount = dealloc_max_depth;

    /* (d) an FNode chain whose head is a self-cycle, found by the collector. The head is
     * tracked first, so that clearing in list order (§7.8) starts with it and the rest of
     * the chain dies by refcount, 149 deep, through the trashcan. */
    last_collect_in_callback = -12345;
    Node* head = new_node(T_8F);
    Node* tail = head;
    nall++;
    nfin++;
    int dfin = 1;
    for (int i = 1; i < N; i++) {
        Node* f = new_node(T_8F);
        nall++;
        nfin++;
        f->action = (++dfin % 17 == 0) ? ACT_COLLECT : ACT_NONE;
        tail->slot[0] = O(f);   /* our reference moves into the tail */
        tail = f;
    }
    node_set(head, 3, head);
    PHN_DECREF(head);
    dealloc_max_depth = 0;
    int64_t r = phn_gc_collect(2);
    int64_t nested_result = last_collect_in_callback;

    CHECK_BODY("8: refcount path: every node deallocated exactly once, every FNode finalized exactly once") {
        int bad = 0;
        for (int64_t id = first_id; id < mid_id; id++) {
            int fins = idc_get(IDC_FIN, id), deallocs = idc_get(IDC_DEALLOC, id);
            if (deallocs != 1 || fins > 1) {
                if (bad++ < 5) fprintf(stderr, "\n  node %lld: %d dealloc(s), %d finalize(s)", (long long)id, deallocs, fins);
            }
        }
        result = bad == 0;
    }
    CHECK("8: finalize ran once per FNode in all (gcount == number of FNodes)", EQ(gcount[EV_FINALIZE], nfin));
    CHECK("8: every node freed (gcount[EV_FREE] == number of nodes)", EQ(gcount[EV_FREE], nall));
    CHECK("8: collect() from a finalizer on the refcount path ran (result >= 0)", outer_collect_result >= 0);
    CHECK_BODY("8: the trashcan bounds the nesting of deallocs (<= PHN_TRASHCAN_DEPTH + 2)") {
        result = depth_refcount >= 2 && depth_refcount <= PHN_TRASHCAN_DEPTH + 2;
        if (!result) fprintf(stderr, "\n  max dealloc nesting %d", depth_refcount);
    }
    CHECK("8: cyclic chain: collect() returns 150", EQ(r, N));
    CHECK("8: cyclic chain: collect() called by its finalizers during the collection returned 0", EQ(nested_result, 0));
    CHECK_BODY("8: cyclic chain: every FNode finalized once and deallocated once") {
        int bad = 0;
        for (int64_t id = mid_id; id < next_node_id; id++)
            if (idc_get(IDC_FIN, id) != 1 || idc_get(IDC_DEALLOC, id) != 1) {
                if (bad++ < 5)
                    fprintf(stderr, "\n  node %lld: %d dealloc(s), %d finalize(s)", (long long)id, idc_get(IDC_DEALLOC, id),
                            idc_get(IDC_FIN, id));
            }
        result = bad == 0;
    }
    CHECK_BODY("8: cyclic chain: dealloc nesting bounded during the collection too") {
        result = dealloc_max_depth <= PHN_TRASHCAN_DEPTH + 2;
        if (!result) fprintf(stderr, "\n  max dealloc nesting %d", dealloc_max_depth);
    }
    CHECK("8: a following collect() returns 0", EQ(phn_gc_collect(2), 0));
    CHECK("8: finalizers ran with the GIL held", EQ(gil_bad, 0));
}

/* ================================================================== §16.5 PEP 442 finalizers */

static void h32(Node* self) {
    if (self != P.a || P.r1 != -1) return;
    P.r1 = P.a->slot[0] == O(P.b) && P.b->slot[0] == O(P.a);
    P.r2 = phn_gc_is_finalized(O(self));
}

static void s32(void) {
    start("32: finalizer in a cycle");
    gsnap s0 = gsnap_now();
    Node* a = new_node(T_FNode);
    Node* b = new_node(T_Node);
    node_set(a, 0, b);
    node_set(b, 0, a);
    int64_t ida = a->id, idb = b->id;
    P.a = a;
    P.b = b;
    fin_hook = h32;
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    CHECK("32: collect() returns 2", EQ(r, 2));
    CHECK("32: finalize(A) called exactly once", EQ(glog_count(EV_FINALIZE, ida), 1));
    CHECK_BODY("32: the log shows finalize before any clear") {
        int f = glog_find(EV_FINALIZE, ida), c = glog_find(EV_CLEAR, -1);
        result = log_complete() && f >= 0 && c > f;
        if (!result) fprintf(stderr, "\n  finalize at %d, first clear at %d", f, c);
    }
    CHECK("32: inside finalize, A.slot0 == B and B.slot0 == A", EQ(P.r1, 1));
    CHECK("32: A is marked finalized when its finalizer runs (§7.6)", EQ(P.r2, 1));
    CHECK("32: A and B deallocated once each", freed_once(a, ida) && freed_once(b, idb));
    CHECK("32: stats: generation 2 collections +1, collected +2, uncollectable +0", gsnap_delta(&s0, 2, 1, 2, 0));
}

static void s33(void) {
    start("33: all finalizers before any clear");
    gsnap s0 = gsnap_now();
    Node* n[3];
    for (int i = 0; i < 3; i++) n[i] = new_node(T_FNode);
    for (int i = 0; i < 3; i++) node_set(n[i], 0, n[(i + 1) % 3]);
    int64_t id[3];
    for (int i = 0; i < 3; i++) id[i] = n[i]->id;
    for (int i = 0; i < 3; i++) PHN_DECREF(n[i]);
    int64_t r = phn_gc_collect(2);
    CHECK("33: collect() returns 3", EQ(r, 3));
    CHECK("33: three finalize events, one per node",
          EQ(glog_count(EV_FINALIZE, id[0]), 1) && EQ(glog_count(EV_FINALIZE, id[1]), 1) &&
              EQ(glog_count(EV_FINALIZE, id[2]), 1) && EQ(gcount[EV_FINALIZE], 3));
    CHECK_BODY("33: every finalize before the first clear") {
        int last_f = glog_last(EV_FINALIZE, -1), first_c = glog_find(EV_CLEAR, -1);
        result = log_complete() && last_f >= 0 && first_c > last_f;
        if (!result) fprintf(stderr, "\n  last finalize at %d, first clear at %d", last_f, first_c);
    }
    CHECK("33: all three freed", EQ(gcount[EV_FREE], 3));
    CHECK("33: stats: collected +3", gsnap_delta(&s0, 2, 1, 3, 0));
}

static void s34(void) {
    start("34: self-resurrection");
    gsnap s0 = gsnap_now();
    Node* x = new_node(T_FNode);
    x->action = ACT_RESURRECT;
    node_set(x, 0, x);
    int64_t id = x->id;
    PHN_DECREF(x);
    int64_t r = phn_gc_collect(2);
    CHECK("34: collect() returns 0", EQ(r, 0));
    CHECK("34: finalize ran once", EQ(glog_count(EV_FINALIZE, id), 1));
    CHECK("34: the object is alive, held by G and itself (refcount 2)", groot_holds(O(x)) && EQ(PHN_REFCNT(x), 2));
    CHECK("34: no clear, no dealloc", EQ(glog_count(EV_CLEAR, id), 0) && EQ(glog_count(EV_DEALLOC, id), 0));
    CHECK("34: phn_gc_is_finalized == 1", EQ(phn_gc_is_finalized(O(x)), 1));
    CHECK("34: phn_gc_is_tracked == 1", EQ(phn_gc_is_tracked(O(x)), 1));
    CHECK("34: in generation 2", gc_in_generation(x, 2));
    CHECK("34: self-cycle still intact", x->slot[0] == O(x));
    CHECK("34: stats: collected +0, uncollectable +0", gsnap_delta(&s0, 2, 1, 0, 0));
    groot_clear();
    s0 = gsnap_now();
    r = phn_gc_collect(2);
    CHECK("34: after releasing G: collect() returns 1", EQ(r, 1));
    CHECK("34: finalize not called again", EQ(glog_count(EV_FINALIZE, id), 1));
    CHECK("34: deallocated", freed_once(x, id));
    CHECK("34: stats: collected +1", gsnap_delta(&s0, 2, 1, 1, 0));
}

static void s35(void) {
    start("35: transitive resurrection");
    gsnap s0 = gsnap_now();
    Node* l = new_node(T_FNode);
    Node* c = new_node(T_Node);
    l->action = ACT_RESURRECT;
    node_set(l, 0, c);
    node_set(c, 0, l);
    int64_t idl = l->id, idc_ = c->id;
    PHN_DECREF(l);
    PHN_DECREF(c);
    int64_t r = phn_gc_collect(2);
    CHECK("35: collect() returns 0", EQ(r, 0));
    CHECK("35: L and C alive and still linked",
          groot_holds(O(l)) && l->slot[0] == O(c) && c->slot[0] == O(l) && EQ(gcount[EV_FREE], 0) && EQ(gcount[EV_CLEAR], 0));
    CHECK("35: L and C both in generation 2", gc_in_generation(l, 2) && gc_in_generation(c, 2));
    CHECK("35: finalize(L) once", EQ(glog_count(EV_FINALIZE, idl), 1));
    CHECK("35: stats: collected +0", gsnap_delta(&s0, 2, 1, 0, 0));
    groot_clear();
    s0 = gsnap_now();
    r = phn_gc_collect(2);
    CHECK("35: after releasing G: collect() returns 2", EQ(r, 2));
    CHECK("35: no further finalizer call", EQ(glog_count(EV_FINALIZE, idl), 1));
    CHECK("35: both deallocated", freed_once(l, idl) && freed_once(c, idc_));
    CHECK("35: stats: collected +2", gsnap_delta(&s0, 2, 1, 2, 0));
}

static void s36(void) {
    start("36: resurrection does not block other garbage");
    gsnap s0 = gsnap_now();
    for (int i = 0; i < 100; i++) {
        Node* n = new_node(T_Node);
        node_set(n, 0, n);
        PHN_DECREF(n);
    }
    Node* x = new_node(T_FNode);
    x->action = ACT_RESURRECT;
    node_set(x, 0, x);
    int64_t id = x->id;
    PHN_DECREF(x);
    int64_t r = phn_gc_collect(2);
    CHECK("36: collect() returns 100", EQ(r, 100));
    CHECK("36: stats: collected +100, uncollectable +0", gsnap_delta(&s0, 2, 1, 100, 0));
    CHECK("36: the 100 self-cycles are freed, the resurrected one is not",
          EQ(gcount[EV_FREE], 100) && EQ(glog_count(EV_FREE, id), 0) && groot_holds(O(x)));
    groot_clear();
    s0 = gsnap_now();
    r = phn_gc_collect(2);
    CHECK("36: after releasing G: collect() returns 1", EQ(r, 1));
    CHECK("36: stats: collected +1", gsnap_delta(&s0, 2, 1, 1, 0));
    CHECK("36: the resurrected object is freed, finalized only once",
          freed_once(x, id) && EQ(glog_count(EV_FINALIZE, id), 1));
}

static void s37(void) {
    start("37: resurrected by another finalizer in the same pass");
    gsnap s0 = gsnap_now();
    Node* a = new_node(T_FNode);
    Node* b = new_node(T_FNode);
    a->action = ACT_STORE;
    a->target = O(b);
    node_set(a, 0, b);
    node_set(b, 0, a);
    int64_t ida = a->id, idb = b->id;
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    CHECK("37: both finalizers ran exactly once",
          EQ(glog_count(EV_FINALIZE, ida), 1) && EQ(glog_count(EV_FINALIZE, idb), 1));
    CHECK("37: collect() returns 0", EQ(r, 0));
    CHECK("37: both survive (B in G, A reachable from B), nothing cleared",
          groot_holds(O(b)) && b->slot[0] == O(a) && a->slot[0] == O(b) && EQ(gcount[EV_FREE], 0) &&
              EQ(gcount[EV_CLEAR], 0));
    CHECK("37: both finalized, both tracked", EQ(phn_gc_is_finalized(O(a)), 1) && EQ(phn_gc_is_finalized(O(b)), 1) &&
                                                   EQ(phn_gc_is_tracked(O(a)), 1) && EQ(phn_gc_is_tracked(O(b)), 1));
    CHECK("37: stats: collected +0", gsnap_delta(&s0, 2, 1, 0, 0));
    groot_clear();
    s0 = gsnap_now();
    r = phn_gc_collect(2);
    CHECK("37: after releasing G: collect() returns 2", EQ(r, 2));
    CHECK("37: stats: collected +2", gsnap_delta(&s0, 2, 1, 2, 0));
    CHECK("37: no finalizer call the second time", EQ(gcount[EV_FINALIZE], 2));
    CHECK("37: both deallocated", freed_once(a, ida) && freed_once(b, idb));
}

static void s38(void) {
    start("38: finalizer breaks its own cycle");
    gsnap s0 = gsnap_now();
    Node* x = new_node(T_FNode);
    x->action = ACT_SUICIDE;
    node_set(x, 0, x);
    int64_t id = x->id;
    PHN_DECREF(x);
    int64_t r = phn_gc_collect(2);
    CHECK("38: collect() returns 0 (freed by refcount during the finalizer phase)", EQ(r, 0));
    CHECK("38: finalize once", EQ(glog_count(EV_FINALIZE, id), 1));
    CHECK("38: clear never called", EQ(gcount[EV_CLEAR], 0));
    CHECK("38: deallocated during the collection", freed_once(x, id) && EQ(glog_count(EV_DEALLOC, id), 1));
    CHECK("38: stats: collections +1, collected +0", gsnap_delta(&s0, 2, 1, 0, 0));
}

static void s39(void) {
    start("39: refcount-path finalizer");
    Node* x = new_node(T_FNode);
    int64_t id = x->id;
    PHN_DECREF(x);
    CHECK("39: acyclic FNode, DECREF to 0: finalize once, then freed",
          EQ(glog_count(EV_FINALIZE, id), 1) && freed_once(x, id) && glog_find(EV_FINALIZE, id) < glog_find(EV_FREE, id));
    CHECK("39: a following collect() returns 0", EQ(phn_gc_collect(2), 0));

    Node* y = new_node(T_FNode);
    y->action = ACT_RESURRECT;
    id = y->id;
    PHN_DECREF(y);
    CHECK("39: FNode(RESURRECT), DECREF to 0: the finalizer ran once", EQ(glog_count(EV_FINALIZE, id), 1));
    CHECK("39: deallocation abandoned: not freed, refcount == 1, held by G",
          EQ(glog_count(EV_FREE, id), 0) && groot_holds(O(y)) && EQ(PHN_REFCNT(y), 1));
    CHECK("39: phn_gc_is_finalized == 1", EQ(phn_gc_is_finalized(O(y)), 1));
    CHECK("39: phn_gc_is_tracked == 1", EQ(phn_gc_is_tracked(O(y)), 1));
    groot_clear();
    CHECK("39: releasing G deallocates it without calling finalize again",
          freed_once(y, id) && EQ(glog_count(EV_FINALIZE, id), 1));
}

static void s40(void) {
    start("40: non-GC finalizer runs on every death");
    Node* x = new_node(T_NGF);
    x->action = ACT_RESURRECT_N;
    x->budget = 2;
    int64_t id = x->id;
    CHECK("40: NGF is not a GC object (is_gc 0, is_tracked 0)", EQ(phn_object_is_gc(O(x)), 0) && EQ(phn_gc_is_tracked(O(x)), 0));
    PHN_DECREF(x);
    CHECK("40: first death: finalize ran 1 time, object alive (in G, refcount 1)",
          EQ(glog_count(EV_FINALIZE, id), 1) && EQ(glog_count(EV_FREE, id), 0) && groot_holds(O(x)) &&
              EQ(PHN_REFCNT(x), 1));
    CHECK("40: phn_gc_is_finalized is 0 for a non-GC object", EQ(phn_gc_is_finalized(O(x)), 0));
    groot_clear();
    CHECK("40: second death: finalize ran 2 times, object alive",
          EQ(glog_count(EV_FINALIZE, id), 2) && EQ(glog_count(EV_FREE, id), 0) && groot_holds(O(x)));
    groot_clear();
    CHECK("40: third death: finalize ran a 3rd time, object freed",
          EQ(glog_count(EV_FINALIZE, id), 3) && freed_once(x, id));
}

static Node* alloc10[10];
static int64_t alloc10_id[10];
static int alloc10_done;

static void h41(Node* self) {
    if (self != P.a || alloc10_done) return;
    for (int i = 0; i < 10; i++) {
        Node* n = new_node(T_Node);
        alloc10[i] = n;
        alloc10_id[i] = n->id;
        groot_put(O(n));
        PHN_DECREF(n);
    }
    alloc10_done = 1;
}

static void s41_checks(const char* tag, int32_t want_count0) {
    char name[200];
    snprintf(name, sizeof name, "41 (%s): the 10 new Nodes were not traversed by the running collection", tag);
    CHECK_BODY(name) {
        int n = 0;
        for (int i = 0; i < 10; i++) n += glog_count(EV_TRAVERSE, alloc10_id[i]);
        result = log_complete() && alloc10_done && EQ(n, 0);
    }
    snprintf(name, sizeof name, "41 (%s): they are alive, tracked, in generation 0", tag);
    CHECK_BODY(name) {
        result = alloc10_done;
        for (int i = 0; i < 10 && result; i++)
            result = groot_holds(O(alloc10[i])) && phn_gc_is_tracked(O(alloc10[i])) == 1 &&
                     gc_in_generation(alloc10[i], 0) && !gc_in_generation(alloc10[i], 1) &&
                     !gc_in_generation(alloc10[i], 2);
    }
    snprintf(name, sizeof name, "41 (%s): get_count() == (%d, 0, 0)", tag, want_count0);
    CHECK_BODY(name) {
        int32_t c[3] = {-1, -1, -1};
        phn_gc_get_count(c);
        result = c[0] == want_count0 && c[1] == 0 && c[2] == 0;
        if (!result) fprintf(stderr, "\n  get_count() = (%d, %d, %d)", c[0], c[1], c[2]);
    }
}

static void s41(void) {
    start("41: finalizer allocates");
    /* (a) a resurrecting self-cycle: nothing is freed, count0 is exactly the 10 */
    Node* x = new_node(T_FNode);
    x->action = ACT_RESURRECT;
    node_set(x, 0, x);
    P.a = x;
    alloc10_done = 0;
    fin_hook = h41;
    PHN_DECREF(x);
    int64_t r = phn_gc_collect(2);
    CHECK("41 (resurrecting finalizer): collect() returns 0", EQ(r, 0));
    s41_checks("resurrecting finalizer", 10);

    /* (b) FNode A <-> Node B, both freed after the finalizer allocated: phn_object_free takes
     * each freed GC object off count0 (phn_gc.h get_count: tracked minus freed) -> 10 - 2 */
    start("41: finalizer allocates, its cycle is freed");
    Node* a = new_node(T_FNode);
    Node* b = new_node(T_Node);
    node_set(a, 0, b);
    node_set(b, 0, a);
    int64_t ida = a->id, idb = b->id;
    P.a = a;
    alloc10_done = 0;
    fin_hook = h41;
    PHN_DECREF(a);
    PHN_DECREF(b);
    r = phn_gc_collect(2);
    CHECK("41 (freed cycle): collect() returns 2", EQ(r, 2));
    CHECK("41 (freed cycle): A and B freed", freed_once(a, ida) && freed_once(b, idb));
    s41_checks("freed cycle", 8);
}

static void s42(void) {
    start("42: nested collection");
    gsnap s0 = gsnap_now();
    Node* a = new_node(T_FNode);
    Node* b = new_node(T_Node);
    a->action = ACT_COLLECT;
    node_set(a, 0, b);
    node_set(b, 0, a);
    int64_t ida = a->id, idb = b->id;
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    CHECK("42: collect() inside the finalizer returned 0", EQ(last_collect_in_callback, 0));
    CHECK("42: the outer collect() returns 2", EQ(r, 2));
    CHECK("42: finalize once, both freed", EQ(glog_count(EV_FINALIZE, ida), 1) && freed_once(a, ida) && freed_once(b, idb));
    CHECK("42: stats: exactly one collection counted, collected +2", gsnap_delta(&s0, 2, 1, 2, 0));
    CHECK("42: a further collect() returns 0", EQ(phn_gc_collect(2), 0));
}

static void s43(void) {
    start("43: finalizer error");
    gsnap s0 = gsnap_now();
    Node* a = new_node(T_FNode);
    Node* b = new_node(T_Node);
    a->action = ACT_FAIL;
    node_set(a, 0, b);
    node_set(b, 0, a);
    int64_t ida = a->id, idb = b->id;
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    CHECK("43: the collection completes: collect() returns 2", EQ(r, 2));
    CHECK("43: stats: collected +2", gsnap_delta(&s0, 2, 1, 2, 0));
    CHECK("43: the failure is reported once through the error handler", callback_failures_reported(1));
    CHECK("43: the cycle is freed", EQ(glog_count(EV_FINALIZE, ida), 1) && freed_once(a, ida) && freed_once(b, idb));

    err_reset();
    Node* c = new_node(T_FNode);
    c->action = ACT_FAIL;
    int64_t idc2 = c->id;
    PHN_DECREF(c);
    CHECK("43: refcount path: a failing finalizer is reported once, the object is still freed",
          callback_failures_reported(1) && EQ(glog_count(EV_FINALIZE, idc2), 1) && freed_once(c, idc2));
}

/* ================================================================== §16.6 legacy finalizers, debug */

static void s44(void) {
    start("44 + 61: tp_del self-cycle is uncollectable, keeps its weak references");
    gsnap s0 = gsnap_now();
    Node* d = new_node(T_DNode);
    node_set(d, 0, d);
    int64_t id = d->id;
    phn_object* w = weakref_or_die(d, NULL, NULL);
    wcb c;
    wcb_init(&c, 9001);
    phn_object* wc = weakref_or_die(d, wcb_fn, &c);
    c.expect = wc;
    PHN_DECREF(d);
    int64_t r = phn_gc_collect(2);
    CHECK("44: collect() returns 1", EQ(r, 1));
    CHECK("44: gc.garbage == [D]", EQ(phn_gc_garbage_count(), 1) && garbage_has(d));
    CHECK_BODY("44: phn_gc_garbage_get(0) is D, index 1 is PHN_EINVAL") {
        phn_object* o = NULL;
        phn_object* o2 = NULL;
        result = phn_gc_garbage_get(0, &o) == PHN_OK && o == O(d) && phn_gc_garbage_get(1, &o2) == PHN_EINVAL;
    }
    CHECK("44: neither tp_del nor tp_finalize nor clear called",
          EQ(glog_count(EV_DEL, id), 0) && EQ(glog_count(EV_FINALIZE, id), 0) && EQ(gcount[EV_CLEAR], 0) &&
              EQ(gcount[EV_DEALLOC], 0));
    CHECK("44: stats: uncollectable +1, collected +0", gsnap_delta(&s0, 2, 1, 0, 1));
    CHECK("44: D is not finalized, still tracked, in generation 2",
          EQ(phn_gc_is_finalized(O(d)), 0) && EQ(phn_gc_is_tracked(O(d)), 1) && gc_in_generation(d, 2));
    CHECK("44/61: the callback-less weakref still resolves to D", wr_alive_is(w, d));
    CHECK("61: the weakref with a callback is kept too: resolves to D, callback not called",
          wr_alive_is(wc, d) && EQ(c.calls, 0) && EQ(phn_weakref_count(O(d)), 2));
    r = phn_gc_collect(2);
    CHECK("44: a second collect() returns 0 (gc.garbage holds D) and does not append D again",
          EQ(r, 0) && EQ(phn_gc_garbage_count(), 1));
    /* break the cycle by hand */
    PHN_CLEAR(d->slot[0]);
    CHECK("44: D survives its cycle being broken while gc.garbage holds it", EQ(glog_count(EV_FREE, id), 0));
    phn_gc_garbage_clear();
    CHECK("44: emptying gc.garbage frees D", freed_once(d, id) && EQ(phn_gc_garbage_count(), 0));
    CHECK("44: its refcount death ran finalize once and del once",
          EQ(glog_count(EV_FINALIZE, id), 1) && EQ(glog_count(EV_DEL, id), 1));
    CHECK("61: both weak references are dead now, the callback ran once", wr_dead(w) && wr_dead(wc) && wcb_called_once_dead(&c));
    PHN_DECREF(w);
    PHN_DECREF(wc);
}

static void s45(void) {
    start("45 + 61: objects reachable from a tp_del cycle");
    gsnap s0 = gsnap_now();
    Node* d = new_node(T_DNode);
    Node* x = new_node(T_WNode);
    node_set(d, 0, d);
    d->slot[1] = O(x);   /* the only reference to X */
    int64_t idd = d->id, idx = x->id;
    wcb c;
    wcb_init(&c, 9002);
    phn_object* wx = weakref_or_die(x, wcb_fn, &c);
    c.expect = wx;
    PHN_DECREF(d);
    int64_t r = phn_gc_collect(2);
    CHECK("45: collect() returns 2 (both uncollectable)", EQ(r, 2));
    CHECK("45: stats: uncollectable +2, collected +0", gsnap_delta(&s0, 2, 1, 0, 2));
    CHECK("45: gc.garbage == [D]", EQ(phn_gc_garbage_count(), 1) && garbage_has(d) && !garbage_has(x));
    CHECK("45: X alive (refcount 1), nothing cleared, finalized or deallocated",
          EQ(PHN_REFCNT(x), 1) && EQ(gcount[EV_CLEAR], 0) && EQ(gcount[EV_FINALIZE], 0) && EQ(gcount[EV_DEALLOC], 0));
    CHECK("45: D and X moved to generation 2", gc_in_generation(d, 2) && gc_in_generation(x, 2));
    CHECK("61: a weakref to X (in the legacy group) still resolves, its callback not called",
          wr_alive_is(wx, x) && EQ(c.calls, 0));
    PHN_CLEAR(d->slot[0]);
    phn_gc_garbage_clear();
    CHECK("45: breaking the cycle by hand frees D and X", freed_once(d, idd) && freed_once(x, idx));
    CHECK("45: X's weakref callback ran once on its refcount death", wcb_called_once_dead(&c));
    PHN_DECREF(wx);

    start("45: objects reachable from a tp_del cycle, DEBUG_SAVEALL");
    s0 = gsnap_now();
    d = new_node(T_DNode);
    x = new_node(T_Node);
    node_set(d, 0, d);
    d->slot[1] = O(x);
    idd = d->id;
    idx = x->id;
    PHN_DECREF(d);
    phn_gc_set_debug(PHN_GC_DEBUG_SAVEALL);
    r = phn_gc_collect(2);
    phn_gc_set_debug(0);
    CHECK("45 SAVEALL: collect() returns 2", EQ(r, 2));
    CHECK("45 SAVEALL: gc.garbage holds D and X", EQ(phn_gc_garbage_count(), 2) && garbage_has(d) && garbage_has(x));
    CHECK("45 SAVEALL: stats: uncollectable +2, collected +0", gsnap_delta(&s0, 2, 1, 0, 2));
    CHECK("45 SAVEALL: nothing cleared, finalized or deallocated",
          EQ(gcount[EV_CLEAR], 0) && EQ(gcount[EV_FINALIZE], 0) && EQ(gcount[EV_DEALLOC], 0));
    PHN_CLEAR(d->slot[0]);
    phn_gc_garbage_clear();
    CHECK("45 SAVEALL: breaking the cycle by hand frees D and X", freed_once(d, idd) && freed_once(x, idx));
}

static void s46(void) {
    start("46: tp_del has no run-once guarantee");
    Node* d = new_node(T_DelNode);
    d->action = ACT_RESURRECT_N;
    d->budget = 1;
    int64_t id = d->id;
    PHN_DECREF(d);
    CHECK("46: first death: tp_del once, object resurrected into G",
          EQ(glog_count(EV_DEL, id), 1) && EQ(glog_count(EV_FREE, id), 0) && groot_holds(O(d)) && EQ(PHN_REFCNT(d), 1));
    CHECK("46: the resurrected object is tracked", EQ(phn_gc_is_tracked(O(d)), 1));
    groot_clear();
    CHECK("46: second death: tp_del runs again, then the object is freed",
          EQ(glog_count(EV_DEL, id), 2) && freed_once(d, id));
}

static void s47(void) {
    start("47: DEBUG_SAVEALL");
    gsnap s0 = gsnap_now();
    Node* a = new_node(T_Node);
    Node* b = new_node(T_Node);
    node_set(a, 0, b);
    node_set(b, 0, a);
    int64_t ida = a->id, idb = b->id;
    PHN_DECREF(a);
    PHN_DECREF(b);
    phn_gc_set_debug(PHN_GC_DEBUG_SAVEALL);
    CHECK("47: get_debug() == DEBUG_SAVEALL", EQ(phn_gc_get_debug(), PHN_GC_DEBUG_SAVEALL));
    int64_t r = phn_gc_collect(2);
    phn_gc_set_debug(0);
    CHECK("47: collect() returns 2", EQ(r, 2));
    CHECK("47: gc.garbage contains A and B", EQ(phn_gc_garbage_count(), 2) && garbage_has(a) && garbage_has(b));
    CHECK("47: no clear, no dealloc", EQ(gcount[EV_CLEAR], 0) && EQ(gcount[EV_DEALLOC], 0));
    CHECK("47: stats: collected +2, uncollectable +0", gsnap_delta(&s0, 2, 1, 2, 0));
    CHECK("47: both in generation 2", gc_in_generation(a, 2) && gc_in_generation(b, 2));
    phn_gc_garbage_clear();
    CHECK("47: emptying gc.garbage leaves the cycle (no dealloc yet)", EQ(gcount[EV_DEALLOC], 0));
    r = phn_gc_collect(2);
    CHECK("47: then, without SAVEALL, collect() returns 2 and frees both",
          EQ(r, 2) && freed_once(a, ida) && freed_once(b, idb));
}

static void s48(void) {
    start("48: DEBUG_COLLECTABLE output");
    dbg_reset();
    Node* a = new_node(T_Node);
    Node* b = new_node(T_Node);
    Node* x = new_node(T_FNode);
    node_set(a, 0, b);
    node_set(b, 0, a);
    x->action = ACT_RESURRECT;
    node_set(x, 0, x);
    PHN_DECREF(a);
    PHN_DECREF(b);
    PHN_DECREF(x);
    phn_gc_set_debug_output(dbg_out, &dbg_marker);
    phn_gc_set_debug(PHN_GC_DEBUG_COLLECTABLE);
    int64_t r = phn_gc_collect(2);
    phn_gc_set_debug(0);
    CHECK("48: collect() returns 2 (the FNode resurrects)", EQ(r, 2));
    CHECK_BODY("48: one \"gc: collectable <Node 0x...>\" line for A and one for B") {
        result = EQ(dbg_count("collectable", "Node", a), 1) && EQ(dbg_count("collectable", "Node", b), 1);
        if (!result) dbg_dump();
    }
    CHECK_BODY("48: \"gc: collectable <FNode 0x...>\" for the object its finalizer later resurrects") {
        result = EQ(dbg_count("collectable", "FNode", x), 1);
        if (!result) dbg_dump();
    }
    CHECK_BODY("48: nothing else printed (3 lines), the output's ctx passed back") {
        result = EQ(dbg_n, 3) && EQ(dbg_ctx_bad, 0);
        if (!result) dbg_dump();
    }
    groot_clear();
    r = phn_gc_collect(2);
    CHECK("48: flags 0: nothing printed; the resurrected object collected (returns 1)", EQ(r, 1) && EQ(dbg_n, 3));

    start("48: DEBUG_UNCOLLECTABLE output");
    dbg_reset();
    Node* d = new_node(T_DNode);
    node_set(d, 0, d);
    a = new_node(T_Node);
    b = new_node(T_Node);
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    PHN_DECREF(d);
    phn_gc_set_debug(PHN_GC_DEBUG_UNCOLLECTABLE);
    r = phn_gc_collect(2);
    phn_gc_set_debug(0);
    CHECK("48: collect() returns 3", EQ(r, 3));
    CHECK_BODY("48: exactly one line, \"gc: uncollectable <DNode 0x...>\" for D") {
        result = EQ(dbg_count("uncollectable", "DNode", d), 1) && EQ(dbg_n, 1);
        if (!result) dbg_dump();
    }
    PHN_CLEAR(d->slot[0]);
    phn_gc_garbage_clear();

    start("48: DEBUG_COLLECTABLE | DEBUG_UNCOLLECTABLE output");
    dbg_reset();
    d = new_node(T_DNode);
    node_set(d, 0, d);
    a = new_node(T_Node);
    b = new_node(T_Node);
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    PHN_DECREF(d);
    phn_gc_set_debug(PHN_GC_DEBUG_COLLECTABLE | PHN_GC_DEBUG_UNCOLLECTABLE);
    r = phn_gc_collect(2);
    phn_gc_set_debug(0);
    CHECK("48: collect() returns 3", EQ(r, 3));
    CHECK_BODY("48: collectable A, collectable B, then uncollectable D; D never \"collectable\"") {
        int ia = dbg_index("collectable", "Node", a), ib = dbg_index("collectable", "Node", b);
        int id = dbg_index("uncollectable", "DNode", d);
        result = EQ(dbg_n, 3) && ia >= 0 && ib >= 0 && id > ia && id > ib && EQ(dbg_count("collectable", "DNode", d), 0);
        if (!result) dbg_dump();
    }
    PHN_CLEAR(d->slot[0]);
    phn_gc_garbage_clear();

    start("48: DEBUG_STATS output");
    dbg_reset();
    d = new_node(T_DNode);
    node_set(d, 0, d);
    a = new_node(T_Node);
    b = new_node(T_Node);
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    PHN_DECREF(d);
    int64_t g0 = phn_gc_get_objects(0, NULL, 0), g1 = phn_gc_get_objects(1, NULL, 0), g2 = phn_gc_get_objects(2, NULL, 0);
    int64_t perm = phn_gc_get_freeze_count();
    phn_gc_set_debug(PHN_GC_DEBUG_STATS);
    r = phn_gc_collect(2);
    phn_gc_set_debug(0);
    CHECK("48: collect() returns 3", EQ(r, 3));
    CHECK_BODY("48: DEBUG_STATS prints exactly 4 lines") {
        result = EQ(dbg_n, 4);
        if (!result) dbg_dump();
    }
    CHECK_BODY("48: line 1 \"gc: collecting generation 2...\"") {
        result = dbg_n >= 1 && strcmp(dbg_lines[0], "gc: collecting generation 2...") == 0;
        if (!result) dbg_dump();
    }
    CHECK_BODY("48: line 2 \"gc: objects in each generation: g0 g1 g2\" (the sizes before the collection)") {
        char want[160];
        snprintf(want, sizeof want, "gc: objects in each generation: %lld %lld %lld", (long long)g0, (long long)g1,
                 (long long)g2);
        result = dbg_n >= 2 && strcmp(dbg_lines[1], want) == 0;
        if (!result) {
            fprintf(stderr, "\n  expected |%s|", want);
            dbg_dump();
        }
    }
    CHECK_BODY("48: line 3 \"gc: objects in permanent generation: p\"") {
        char want[160];
        snprintf(want, sizeof want, "gc: objects in permanent generation: %lld", (long long)perm);
        result = dbg_n >= 3 && strcmp(dbg_lines[2], want) == 0;
        if (!result) {
            fprintf(stderr, "\n  expected |%s|", want);
            dbg_dump();
        }
    }
    CHECK_BODY("48: line 4 \"gc: done, 3 unreachable, 1 uncollectable, T.TTTTs elapsed\"") {
        result = dbg_n >= 4 &&
                 regex_search("^gc: done, 3 unreachable, 1 uncollectable, [0-9]+\\.[0-9]{4}s elapsed$", dbg_lines[3]) == 1;
        if (!result) dbg_dump();
    }
    PHN_CLEAR(d->slot[0]);
    phn_gc_garbage_clear();
    phn_gc_set_debug_output(NULL, NULL);
    dbg_reset();
}

/* ================================================================== §16.7 weak references */

static void h49(Node* self) {
    if (self != P.a || P.r1 != -1) return;
    P.r1 = wr_alive_is(P.w, self);
}

static void s49(void) {
    start("49: refcount death with a callback");
    Node* x = new_node(T_WNode);
    int64_t idx = x->id;
    wcb c;
    wcb_init(&c, 9101);
    phn_object* w = weakref_or_die(x, wcb_fn, &c);
    c.expect = w;
    CHECK("49: phn_weakref_check: 1 for W, 0 for X", EQ(phn_weakref_check(w), 1) && EQ(phn_weakref_check(O(x)), 0));
    CHECK("49: W is a tracked GC object", EQ(phn_object_is_gc(w), 1) && EQ(phn_gc_is_tracked(w), 1));
    CHECK("49: phn_weakref_count(X) == 1", EQ(phn_weakref_count(O(x)), 1));
    CHECK("49: get_ref while alive: 1 and a new reference to X", wr_get_ref_gives_new_ref(w, O(x)));
    CHECK("49: get_ref on a non-weakref: PHN_EINVAL", EQ(phn_weakref_get_ref(O(x), &(phn_object*){NULL}), PHN_EINVAL));
    CHECK("49: X's refcount is 1 (W does not own X)", EQ(PHN_REFCNT(x), 1));
    PHN_DECREF(x);
    CHECK("49: drop X: cb(W) called once, W dead inside", wcb_called_once_dead(&c));
    CHECK("49: X freed", freed_once(x, idx));
    CHECK("49: after: get_ref gives 0 and NULL", wr_dead(w));
    PHN_DECREF(w);
    CHECK("49: W's own death calls nothing", EQ(c.calls, 1));

    start("49: refcount death of an FNode: its finalizer runs first and sees W resolve");
    Node* f = new_node(T_FWNode);
    int64_t idf = f->id;
    wcb_init(&c, 9102);
    w = weakref_or_die(f, wcb_fn, &c);
    c.expect = w;
    P.a = f;
    P.w = w;
    fin_hook = h49;
    PHN_DECREF(f);
    CHECK("49: finalize once, W resolved to X inside it", EQ(glog_count(EV_FINALIZE, idf), 1) && EQ(P.r1, 1));
    CHECK("49: the callback ran once after the finalizer, W dead inside",
          wcb_called_once_dead(&c) && glog_find(EV_FINALIZE, idf) < glog_find(EV_WEAKCB, 9102));
    CHECK("49: X freed, W dead", freed_once(f, idf) && wr_dead(w));
    PHN_DECREF(w);

    start("49 (§13.4): a finalizer resurrecting on the refcount path keeps the weak references");
    f = new_node(T_FWNode);
    f->action = ACT_RESURRECT;
    idf = f->id;
    wcb_init(&c, 9103);
    w = weakref_or_die(f, wcb_fn, &c);
    c.expect = w;
    phn_object* w0 = weakref_or_die(f, NULL, NULL);
    PHN_DECREF(f);
    CHECK("49: resurrected: callback not called, both weakrefs resolve",
          EQ(c.calls, 0) && EQ(glog_count(EV_FREE, idf), 0) && wr_alive_is(w, f) && wr_alive_is(w0, f) &&
              EQ(phn_weakref_count(O(f)), 2));
    groot_clear();
    CHECK("49: its second death: no finalize, callback once, both dead",
          EQ(glog_count(EV_FINALIZE, idf), 1) && freed_once(f, idf) && wcb_called_once_dead(&c) && wr_dead(w0));
    PHN_DECREF(w);
    PHN_DECREF(w0);
}

static void s50(void) {
    start("50: sharing of callback-less weak references");
    Node* x = new_node(T_WNode);
    phn_object* w0a = weakref_or_die(x, NULL, NULL);
    phn_object* w0b = weakref_or_die(x, NULL, NULL);
    CHECK("50: two callback-less weakrefs are the same object, holding 2 references",
          w0a == w0b && EQ(PHN_REFCNT(w0a), 2));
    wcb c1, c2;
    wcb_init(&c1, 9201);
    wcb_init(&c2, 9202);
    phn_object* wa = weakref_or_die(x, wcb_fn, &c1);
    phn_object* wb = weakref_or_die(x, wcb_fn, &c2);
    c1.expect = wa;
    c2.expect = wb;
    CHECK("50: weakrefs with callbacks are distinct objects", wa != wb && wa != w0a && wb != w0a);
    phn_object* w0c = weakref_or_die(x, NULL, NULL);
    CHECK("50: a callback-less request after them still gives the shared one", w0c == w0a && EQ(PHN_REFCNT(w0a), 3));
    PHN_DECREF(w0c);
    CHECK("50: phn_weakref_count(X) == 3", EQ(phn_weakref_count(O(x)), 3));
    PHN_DECREF(x);
    CHECK("50: drop X: each callback once, every weakref dead",
          wcb_called_once_dead(&c1) && wcb_called_once_dead(&c2) && wr_dead(w0a) && wr_dead(wa) && wr_dead(wb));
    PHN_DECREF(w0a);
    PHN_DECREF(w0b);
    PHN_DECREF(wa);
    PHN_DECREF(wb);
}

static void s51(void) {
    start("51: several callbacks, one failing");
    Node* x = new_node(T_WNode);
    wcb c[3];
    phn_object* w[3];
    for (int i = 0; i < 3; i++) {
        wcb_init(&c[i], 9301 + i);
        w[i] = weakref_or_die(x, wcb_fn, &c[i]);
        c[i].expect = w[i];
    }
    for (int i = 0; i < 3; i++) {
        c[i].also = w;
        c[i].nalso = 3;
    }
    c[1].ret = -1;   /* W2's callback fails */
    PHN_DECREF(x);
    CHECK("51: each callback called once, its weakref dead inside",
          wcb_called_once_dead(&c[0]) && wcb_called_once_dead(&c[1]) && wcb_called_once_dead(&c[2]));
    CHECK_BODY("51: callbacks run W3, W2, W1") {
        result = c[2].seq < c[1].seq && c[1].seq < c[0].seq;
        if (!result) fprintf(stderr, "\n  W1 #%d, W2 #%d, W3 #%d", c[0].seq, c[1].seq, c[2].seq);
    }
    CHECK("51: every weakref was cleared before the first callback ran",
          EQ(c[0].also_alive, 0) && EQ(c[1].also_alive, 0) && EQ(c[2].also_alive, 0));
    CHECK("51: W2's failure reported once through the error handler, W1's callback still ran",
          callback_failures_reported(1) && EQ(c[0].calls, 1));
    for (int i = 0; i < 3; i++) PHN_DECREF(w[i]);
}

static void s52(void) {
    start("52: weakref dies first");
    Node* x = new_node(T_WNode);
    int64_t id = x->id;
    wcb c;
    wcb_init(&c, 9401);
    phn_object* w = weakref_or_die(x, wcb_fn, &c);
    PHN_DECREF(w);
    CHECK("52: phn_weakref_count(X) drops to 0", EQ(phn_weakref_count(O(x)), 0));
    PHN_DECREF(x);
    CHECK("52: X's death calls no callback", EQ(c.calls, 0) && freed_once(x, id));
}

static void s53_one(phn_object* op, const char* type_name, const char* tag) {
    char want[200], name[300];
    snprintf(want, sizeof want, "cannot create weak reference to '%s' object", type_name);
    int64_t before = phn_gc_get_objects(-1, NULL, 0);
    wcb c;
    wcb_init(&c, 9501);
    for (int with_cb = 0; with_cb < 2; with_cb++) {
        err_reset();
        phn_clear_error();
        phn_object* w = phn_weakref_new(op, with_cb ? wcb_fn : NULL, with_cb ? &c : NULL);
        const char* cb_tag = with_cb ? ", with callback" : "";
        snprintf(name, sizeof name, "53 (%s%s): NULL and PHN_EINVAL", tag, cb_tag);
        CHECK_BODY(name) {
            result = w == NULL && phn_last_error_code() == PHN_EINVAL;
            if (!result) fprintf(stderr, "\n  got %p, code %d", (void*)w, phn_last_error_code());
        }
        snprintf(name, sizeof name, "53 (%s%s): phn_last_error_message() is exactly \"%s\" (phn_weakref.h)", tag, cb_tag, want);
        CHECK_BODY(name) {
            result = strcmp(phn_last_error_message(), want) == 0;
            if (!result) fprintf(stderr, "\n  got \"%s\"", phn_last_error_message());
        }
        snprintf(name, sizeof name, "53 (%s%s): the error handler saw it once (PHN_EINVAL, the same message)", tag, cb_tag);
        CHECK_BODY(name) {
            result = err_calls == 1 && err_code == PHN_EINVAL && strcmp(err_msg, want) == 0;
            if (!result) fprintf(stderr, "\n  %d call(s), code %d, \"%s\"", err_calls, err_code, err_msg);
        }
    }
    snprintf(name, sizeof name, "53 (%s): nothing created (tracked objects unchanged, weakref count 0)", tag);
    CHECK(name, EQ(phn_gc_get_objects(-1, NULL, 0), before) && EQ(phn_weakref_count(op), 0));
}

static void s53(void) {
    start("53: not weak-referenceable");
    Node* x = new_node(T_Node);
    s53_one(O(x), "Node", "Node");
    Node* leaf = (Node*)phn_object_new(T_Leaf);
    s53_one(O(leaf), "Leaf", "Leaf");
    Node* l = (Node*)phn_object_new(T_LNodeNW);
    s53_one(O(l), "LNodeNW", "layout type without WEAKREFABLE");
    PHN_DECREF(x);
    PHN_DECREF(leaf);
    PHN_DECREF(l);
}

static void s54(void) {
    start("54: reachable weakref to cyclic garbage");
    gsnap s0 = gsnap_now();
    Node* x = new_node(T_FWNode);   /* with a finalizer, to see the order */
    Node* y = new_node(T_WNode);
    node_set(x, 0, x);
    node_set(y, 0, y);
    int64_t idx = x->id, idy = y->id;
    wcb cx, cy;
    wcb_init(&cx, 9601);
    wcb_init(&cy, 9602);
    phn_object* wx = weakref_or_die(x, wcb_fn, &cx);
    phn_object* wy = weakref_or_die(y, wcb_fn, &cy);
    cx.expect = wx;
    cy.expect = wy;
    PHN_DECREF(x);
    PHN_DECREF(y);
    int64_t r = phn_gc_collect(2);
    CHECK("54: collect() returns 2 (two self-cycles; the weakrefs are reachable)", EQ(r, 2));
    CHECK("54: each callback called exactly once, its weakref dead inside",
          wcb_called_once_dead(&cx) && wcb_called_once_dead(&cy));
    CHECK_BODY("54: callbacks ran before any finalizer and before any clear") {
        result = cx.fins_at == 0 && cy.fins_at == 0 && cx.clears_at == 0 && cy.clears_at == 0 &&
                 glog_find(EV_FINALIZE, idx) > glog_find(EV_WEAKCB, 9601);
        if (!result)
            fprintf(stderr, "\n  finalizes before the callbacks: %ld / %ld, clears: %ld / %ld", cx.fins_at, cy.fins_at,
                    cx.clears_at, cy.clears_at);
    }
    CHECK("54: finalize(X) once, both freed", EQ(glog_count(EV_FINALIZE, idx), 1) && freed_once(x, idx) && freed_once(y, idy));
    CHECK("54: stats: collected +2", gsnap_delta(&s0, 2, 1, 2, 0));
    CHECK("54: both weakrefs dead after; they survived their callbacks (alive, tracked)",
          wr_dead(wx) && wr_dead(wy) && EQ(phn_gc_is_tracked(wx), 1));
    PHN_DECREF(wx);
    PHN_DECREF(wy);
}

static void s55(void) {
    start("55: weakref that is itself garbage");
    gsnap s0 = gsnap_now();
    Node* x = new_node(T_WNode);
    Node* y = new_node(T_WNode);
    node_set(x, 0, y);
    node_set(y, 0, x);
    int64_t idx = x->id, idy = y->id;
    wcb c;
    wcb_init(&c, 9701);
    x->slot[1] = weakref_or_die(y, wcb_fn, &c);   /* the only reference to Wy */
    PHN_DECREF(x);
    PHN_DECREF(y);
    int64_t r = phn_gc_collect(2);
    CHECK("55: collect() returns 3 (X, Y, Wy)", EQ(r, 3));
    CHECK("55: the callback is never called", EQ(c.calls, 0));
    CHECK("55: X and Y freed", freed_once(x, idx) && freed_once(y, idy));
    CHECK("55: stats: collected +3", gsnap_delta(&s0, 2, 1, 3, 0));
}

static void h56(Node* self) {
    if (self != P.a || P.r1 != -1) return;
    P.r1 = wr_alive_is(P.w, self);
    P.r2 = phn_weakref_count(O(self)) == 1;
}

static void s56(void) {
    start("56: callback-less weakref during finalization (gh-135552 order)");
    Node* x = new_node(T_FWNode);
    node_set(x, 0, x);
    int64_t id = x->id;
    phn_object* w = weakref_or_die(x, NULL, NULL);
    P.a = x;
    P.w = w;
    fin_hook = h56;
    PHN_DECREF(x);
    int64_t r = phn_gc_collect(2);
    CHECK("56: collect() returns 1", EQ(r, 1));
    CHECK("56: inside the finalizer W resolves to X (and X still has its weakref)", EQ(P.r1, 1) && EQ(P.r2, 1));
    CHECK("56: after the collection W is dead, X freed", wr_dead(w) && freed_once(x, id));
    PHN_DECREF(w);
}

static void s57(void) {
    start("57: resurrection and weakrefs");
    Node* x = new_node(T_FWNode);
    x->action = ACT_RESURRECT;
    node_set(x, 0, x);
    int64_t id = x->id;
    phn_object* w = weakref_or_die(x, NULL, NULL);
    wcb c;
    wcb_init(&c, 9801);
    phn_object* wc = weakref_or_die(x, wcb_fn, &c);
    c.expect = wc;
    PHN_DECREF(x);
    int64_t r = phn_gc_collect(2);
    CHECK("57: collect() returns 0", EQ(r, 0));
    CHECK("57: W (no callback) still resolves to X", wr_alive_is(w, x));
    CHECK("57: Wc is dead, its callback ran once", wr_dead(wc) && wcb_called_once_dead(&c));
    CHECK("57: ... before the finalizer", c.fins_at == 0 && glog_find(EV_WEAKCB, 9801) < glog_find(EV_FINALIZE, id));
    CHECK("57: phn_weakref_count(X) == 1", EQ(phn_weakref_count(O(x)), 1));
    groot_clear();
    r = phn_gc_collect(2);
    CHECK("57: after releasing G: collect() returns 1, W dead, X freed",
          EQ(r, 1) && wr_dead(w) && freed_once(x, id));
    CHECK("57: no second finalize, no second callback", EQ(glog_count(EV_FINALIZE, id), 1) && EQ(c.calls, 1));
    PHN_DECREF(w);
    PHN_DECREF(wc);
}

static void h58_fin(Node* self) {
    if (self != P.a || P.w != NULL) return;
    P.w = weakref_or_die(P.b, NULL, NULL);
    groot_put(P.w);
    PHN_DECREF(P.w);
    P.r1 = wr_alive_is(P.w, P.b);
}

static void h58_clear(Node* self) {
    (void)self;
    if (P.w == NULL) return;
    if (P.r3 < 0) P.r3 = 0;
    if (P.r2 < 0) P.r2 = 0;
    P.r3++;   /* clears seen */
    phn_object* o = NULL;
    if (phn_weakref_get_ref(P.w, &o) != 0 || o != NULL) {
        P.r2++;   /* a clear that saw Wb alive: B is still referenced here (by A, or by the
                     collector around its own clear), so the reference is given back */
        if (o == O(P.b)) PHN_DECREF(o);
    }
}

static void s58(void) {
    start("58: weakref created by a finalizer (gh-91636)");
    Node* a = new_node(T_FNode);
    Node* b = new_node(T_CWNode);
    node_set(a, 0, b);
    node_set(b, 0, a);
    int64_t ida = a->id, idb = b->id;
    P.a = a;
    P.b = b;
    fin_hook = h58_fin;
    clear_hook = h58_clear;
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    CHECK("58: collect() returns 2", EQ(r, 2));
    CHECK("58: the finalizer created Wb, which resolved to B inside it", P.w != NULL && EQ(P.r1, 1));
    CHECK("58: Wb was already dead at every clear (cleared before any clear ran)", P.r3 >= 1 && EQ(P.r2, 0));
    CHECK("58: after the collection Wb is dead, A and B freed",
          P.w != NULL && wr_dead(P.w) && freed_once(a, ida) && freed_once(b, idb));
}

static void s59(void) {
    start("59: hidden referent (bpo-38006)");
    gsnap s0 = gsnap_now();
    Node* a = new_node(T_Node);
    Node* h = new_node(T_Holder);
    Node* z = new_node(T_WNode);
    Node* l = new_node(T_Node);
    node_set(a, 0, a);
    a->slot[1] = O(h);   /* A owns the Holder */
    h->slot[0] = O(z);   /* the Holder owns Z, Z has no other reference */
    node_set(l, 0, l);
    wcb c;
    wcb_init(&c, 9901);
    l->slot[1] = weakref_or_die(z, wcb_fn, &c);   /* L owns WZ */
    int64_t idz = z->id, idh = h->id;
    PHN_DECREF(a);
    PHN_DECREF(l);
    int64_t r = phn_gc_collect(2);
    CHECK("59: collect() returns 3 (A, L, WZ)", EQ(r, 3));
    CHECK("59: the callback is never called", EQ(c.calls, 0));
    CHECK("59: stats: collected +3", gsnap_delta(&s0, 2, 1, 3, 0));
    CHECK("59: Z still deallocated (by refcount when A is cleared), and the Holder",
          freed_once(z, idz) && freed_once(h, idh));
}

static void s60(void) {
    start("60: weakrefs freed by their callback are counted");
    gsnap s0 = gsnap_now();
    Node* k = new_node(T_Node);
    Node* x = new_node(T_WNode);
    node_set(x, 0, x);
    int64_t idx = x->id;
    wcb c;
    wcb_init(&c, 10001);
    phn_object* w = weakref_or_die(x, wcb_fn, &c);
    c.expect = w;
    c.container = k;
    c.slot = 0;
    k->slot[0] = w;   /* K holds the only reference to W */
    PHN_DECREF(x);
    int64_t r = phn_gc_collect(2);
    CHECK("60: collect() returns 2 (X plus W)", EQ(r, 2));
    CHECK("60: the callback ran once, W dead inside; K no longer holds W", wcb_called_once_dead(&c) && k->slot[0] == NULL);
    CHECK("60: stats: collected +2", gsnap_delta(&s0, 2, 1, 2, 0));
    CHECK("60: X freed", freed_once(x, idx));
    PHN_DECREF(k);
}

/* ================================================================== layout-described types */

static void sL1(void) {
    start("L1: layout type (GC, WEAKREFABLE): refcount death");
    Node* x = new_node(T_LNode);
    Node* h = new_node(T_Holder);
    x->slot[1] = O(h);
    int64_t idh = h->id;
    wcb c;
    wcb_init(&c, 11001);
    phn_object* wc = weakref_or_die(x, wcb_fn, &c);
    c.expect = wc;
    phn_object* w0 = weakref_or_die(x, NULL, NULL);
    CHECK("L1: tracked, not finalized, 2 weakrefs",
          EQ(phn_gc_is_tracked(O(x)), 1) && EQ(phn_gc_is_finalized(O(x)), 0) && EQ(phn_weakref_count(O(x)), 2));
    CHECK("L1: get_ref: 1 and a new reference", wr_get_ref_gives_new_ref(w0, O(x)));
    PHN_DECREF(x);
    CHECK("L1: the default dealloc called the callback once, W dead inside", wcb_called_once_dead(&c));
    CHECK("L1: both weakrefs dead", wr_dead(wc) && wr_dead(w0));
    CHECK("L1: the default dealloc released the layout's references", freed_once(h, idh));
    PHN_DECREF(wc);
    PHN_DECREF(w0);
}

static void sL2(void) {
    start("L2: layout type (GC, WEAKREFABLE): cyclic garbage");
    gsnap s0 = gsnap_now();
    Node* x = new_node(T_LNode);
    Node* h = new_node(T_Holder);
    node_set(x, 0, x);
    x->slot[1] = O(h);
    int64_t idh = h->id;
    wcb c;
    wcb_init(&c, 11002);
    phn_object* wc = weakref_or_die(x, wcb_fn, &c);
    c.expect = wc;
    phn_object* w0 = weakref_or_die(x, NULL, NULL);
    PHN_DECREF(x);
    int64_t r = phn_gc_collect(2);
    CHECK("L2: collect() returns 1", EQ(r, 1));
    CHECK("L2: the callback ran once, W dead inside", wcb_called_once_dead(&c));
    CHECK("L2: both weakrefs dead after", wr_dead(wc) && wr_dead(w0));
    CHECK("L2: the layout's references released", freed_once(h, idh));
    CHECK("L2: stats: collected +1", gsnap_delta(&s0, 2, 1, 1, 0));
    PHN_DECREF(wc);
    PHN_DECREF(w0);
}

static void sL3(void) {
    start("L3: layout type: a weakref that is itself garbage");
    gsnap s0 = gsnap_now();
    Node* x = new_node(T_LNode);
    Node* y = new_node(T_LNode);
    node_set(x, 0, y);
    node_set(y, 0, x);
    wcb c;
    wcb_init(&c, 11003);
    x->slot[1] = weakref_or_die(y, wcb_fn, &c);
    PHN_DECREF(x);
    PHN_DECREF(y);
    int64_t r = phn_gc_collect(2);
    CHECK("L3: collect() returns 3, the callback never called", EQ(r, 3) && EQ(c.calls, 0));
    CHECK("L3: stats: collected +3", gsnap_delta(&s0, 2, 1, 3, 0));
    CHECK("L3: a following collect() returns 0", EQ(phn_gc_collect(2), 0));
}

static void sL4(void) {
    start("L4: layout type (non-GC, WEAKREFABLE): refcount death");
    Node* x = (Node*)phn_object_new(T_LHolderW);
    Node* h = new_node(T_Holder);
    x->slot[1] = O(h);
    int64_t idh = h->id;
    wcb c;
    wcb_init(&c, 11004);
    phn_object* wc = weakref_or_die(x, wcb_fn, &c);
    c.expect = wc;
    CHECK("L4: not a GC object, one weakref", EQ(phn_object_is_gc(O(x)), 0) && EQ(phn_weakref_count(O(x)), 1));
    PHN_DECREF(x);
    CHECK("L4: the callback ran once, W dead inside", wcb_called_once_dead(&c));
    CHECK("L4: the layout's references released", freed_once(h, idh));
    PHN_DECREF(wc);
}

/* ================================================================== driver */

typedef struct scen {
    const char* key;
    void (*fn)(void);
} scen;

static const scen SCEN[] = {
    {"s08", s08}, {"s32", s32}, {"s33", s33}, {"s34", s34}, {"s35", s35}, {"s36", s36}, {"s37", s37},
    {"s38", s38}, {"s39", s39}, {"s40", s40}, {"s41", s41}, {"s42", s42}, {"s43", s43}, {"s44", s44},
    {"s45", s45}, {"s46", s46}, {"s47", s47}, {"s48", s48}, {"s49", s49}, {"s50", s50}, {"s51", s51},
    {"s52", s52}, {"s53", s53}, {"s54", s54}, {"s55", s55}, {"s56", s56}, {"s57", s57}, {"s58", s58},
    {"s59", s59}, {"s60", s60}, {"L1", sL1},  {"L2", sL2},  {"L3", sL3},  {"L4", sL4},
};
#define NSCEN ((int)(sizeof SCEN / sizeof SCEN[0]))

static void on_crash(int sig) {
    static const char msg[] = "\n  CRASH (signal) in scenario: ";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    ignored = write(2, cur_scenario, strlen(cur_scenario));
    ignored = write(2, "\n", 1);
    (void)ignored;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void child_setup(void) {
    signal(SIGSEGV, on_crash);
    signal(SIGABRT, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGALRM, on_crash);
    phn_set_error_handler(on_error, &err_marker);
    setup_types();
}

static void child_teardown(void) {
    fin_hook = NULL;
    clear_hook = NULL;
    cur_scenario = "(teardown)";
    gc_scenario_start();
}

int main(int argc, char** argv) {
    if (argc > 1 && strncmp(argv[1], "--scenario=", 11) == 0) {
        alarm(30);
        child_setup();
        const char* key = argv[1] + 11;
        int found = 0;
        for (int i = 0; i < NSCEN; i++)
            if (strcmp(SCEN[i].key, key) == 0) {
                SCEN[i].fn();
                found = 1;
            }
        CHECK("scenario key known", found);
        int rc = print_test_summary();   /* before the teardown: a crash there keeps the counts */
        child_teardown();
        return rc;
    }
    if (argc > 1 && strcmp(argv[1], "--inproc") == 0) {
        alarm(60);
        child_setup();
        for (int i = 0; i < NSCEN; i++) SCEN[i].fn();
        int rc = print_test_summary();
        child_teardown();
        return rc;
    }
    alarm(150);
    for (int i = 0; i < NSCEN; i++) {
        char mode[64];
        snprintf(mode, sizeof mode, "--scenario=%s", SCEN[i].key);
        run_child_suite(mode, NULL);
    }
    return print_test_summary();
}
