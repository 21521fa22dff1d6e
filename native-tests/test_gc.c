/* test_gc.c - the cyclic garbage collector: spec-gc.md §16.3 (scenarios 14-21), §16.4
 * (22-31) and §16.8 (62-72), against include/pyheapnative/phn_gc.h (the contract) with the
 * §16.0 fixture of gc_fixture.h.
 *
 *   §16.3  14 threshold trigger at track time; 15 middle-generation cadence; 16 disabled
 *          collector and threshold0 = 0; 17 the long-lived 25 % rule (against a model of
 *          §6.2-§6.4); 18 generation movement; 19 stats attribution; 20 / 21 cycles across
 *          generations
 *   §16.4  22-27, 29-31 with callback types (Node, NCNode, HNode, Holder); 22-26, 29-31 again
 *          with layout-described types (the library traverses, clears and deallocates with no
 *          callback) and with cycles mixing layout and callback types; 31 rings of 1e5 and
 *          2e5 and a 1e5 chain, with a linearity check; 28 over-reporting traverse: in a
 *          child with the default fatal handler (SIGABRT, "refcount is too small", CPython's
 *          test_gc regular expressions as a guide) and in process with a fatal handler that
 *          returns (the collection is abandoned, the objects stay consistent and are freed
 *          once the traverse is fixed)
 *   §16.8  62 argument validation with the exact messages of phn_gc.h (collect, get_objects,
 *          get_stats, remove_callback, NULL pointers): nothing changes; 63 get_objects;
 *          64 get_referrers; 65 get_referents; 66 freeze / unfreeze; 67 gc callbacks (order,
 *          info, stats inside "stop", a failing callback reported through the error handler,
 *          collect inside a callback, registered twice); 68 enable / disable and
 *          phn_gc_collect_if_enabled; 69 phn_gc_visit_objects; 70 is_finalized; 71 the
 *          shutdown report (phn_gc_shutdown, captured with phn_gc_set_debug_output);
 *          72 PHN_TPFLAGS_UNTRACK_ATOMIC on a layout type
 *   debug  DEBUG_STATS lines and DEBUG_COLLECTABLE lines (§11), captured through
 *          phn_gc_set_debug_output
 *
 *   test_gc --bad-traverse   the child of scenario 28 (ends in the fatal error)
 *
 * Build (from the repository root), as native-tests/run.sh does:
 *   gcc -std=c11 -O2 -g -Wall -Wextra -Werror -Iinclude -D_GNU_SOURCE native-tests/test_gc.c \
 *       -Lartifacts/lib -Wl,-rpath,$PWD/artifacts/lib -lpyheapnative -lpthread
 */
#include "testhelper.h"
#include "phn_test_common.h"
#include "gc_fixture.h"

#include <time.h>

#define O(x) ((phn_object*)(x))

/* ================================================================== types */

static phn_type* T_node;     /* Node (callbacks) */
static phn_type* T_node_dbg; /* a second Node type, named "Node" too, for the debug lines */
static phn_type* T_fin;      /* FNode */
static phn_type* T_ngf;      /* NGF: non-GC with a finalizer */
static phn_type* T_del;      /* DNode */
static phn_type* T_nc;       /* NCNode: clear NULL */
static phn_type* T_hidden;   /* HNode: traverse skips slot 0 */
static phn_type* T_bad;      /* BadNode: traverse visits slot 0 twice */
static phn_type* T_leaf;     /* Leaf with logged dealloc (non-GC Node) */
static phn_type* T_holder;   /* Holder: non-GC, owns references, not traversed by the collector */
static phn_type* T_pleaf;    /* plain Leaf (leaf_type(): no callbacks at all) */
static phn_type* L_node;     /* LNode: GC, layout only */
static phn_type* L_holder;   /* LHolder: non-GC, layout only */
static phn_type* L_wleaf;    /* LWLeaf: non-GC, weak-referenceable, layout only */
static phn_type* L_noclear;  /* LNCNode: layout traverse and dealloc, a clear callback that clears nothing */
static phn_type* L_atomic;   /* ATuple: layout, PHN_TPFLAGS_UNTRACK_ATOMIC */

static int is_logged_type(const phn_type* t) {
    for (int i = 0; i < node_type_count; i++)
        if (node_types[i].type == t) return 1;
    return 0;
}

static int32_t PHN_CALL noop_clear(phn_object* self) {
    glog_add(EV_CLEAR, ((Node*)self)->id);
    return 0;
}

/* A Node-shaped type described by its layout, with an optional clear callback. */
static phn_type* layout_type_ex(const char* name, uint32_t flags, phn_inquiry clear) {
    static const uint32_t offsets[NODE_SLOTS] = {offsetof(Node, slot[0]), offsetof(Node, slot[1]),
                                                 offsetof(Node, slot[2]), offsetof(Node, slot[3])};
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = (uint32_t)sizeof spec;
    spec.name = name;
    spec.flags = flags;
    spec.basicsize = (int64_t)sizeof(Node);
    spec.ref_offsets = offsets;
    spec.ref_count = NODE_SLOTS;
    spec.clear = clear;
    phn_type* t = phn_type_new(&spec);
    if (t == NULL) fprintf(stderr, "\n  layout_type_ex(%s): %s\n", name, phn_last_error_message());
    return t;
}

static void make_types(void) {
    T_node = node_type("Node", 0);
    T_node_dbg = node_type("Node", 0);
    T_fin = node_type("FNode", NV_FIN);
    T_ngf = node_type("NGF", NV_NOGC | NV_FIN);
    T_del = node_type("DNode", NV_DEL);
    T_nc = node_type("NCNode", NV_NOCLEAR);
    T_hidden = node_type("HNode", NV_HIDDEN);
    T_bad = node_type("BadNode", NV_BAD);
    T_leaf = node_type("Leaf", NV_NOGC);
    T_holder = node_type("Holder", NV_NOGC);
    T_pleaf = leaf_type();
    L_node = layout_node_type("LNode", PHN_TPFLAGS_HAVE_GC);
    L_holder = layout_node_type("LHolder", 0);
    L_wleaf = layout_type_ex("LWLeaf", PHN_TPFLAGS_WEAKREFABLE, NULL);
    L_noclear = layout_type_ex("LNCNode", PHN_TPFLAGS_HAVE_GC, noop_clear);
    L_atomic = layout_type_ex("ATuple", PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_UNTRACK_ATOMIC, NULL);
}

/* ================================================================== helpers */

static int32_t default_threshold[3] = {2000, 10, 10};

static void restore_thresholds(void) {
    phn_gc_set_threshold(default_threshold[0], default_threshold[1], default_threshold[2]);
}

static int64_t tracked_total(void) { return phn_gc_get_objects(-1, NULL, 0); }
static int64_t gen_size(int32_t g) { return phn_gc_get_objects(g, NULL, 0); }

static void get_count3(int32_t c[3]) {
    c[0] = c[1] = c[2] = -1;
    phn_gc_get_count(c);
}

static void print_count(void) {
    int32_t c[3];
    get_count3(c);
    fprintf(stderr, "\n  get_count() = (%d, %d, %d)\n", c[0], c[1], c[2]);
}

static int count_is(int32_t a, int32_t b, int32_t c) {
    int r = gc_count_is(a, b, c);
    if (!r) {
        print_count();
        fprintf(stderr, "  expected (%d, %d, %d)\n", a, b, c);
    }
    return r;
}

typedef struct stats3 { phn_gc_stats s[3]; } stats3;

static stats3 stats_all(void) {
    stats3 r;
    for (int g = 0; g < 3; g++) {
        memset(&r.s[g], 0, sizeof r.s[g]);
        r.s[g].struct_size = (uint32_t)sizeof r.s[g];
        phn_gc_get_stats(g, &r.s[g]);
    }
    return r;
}

static int stats_same(const stats3* a, const stats3* b) {
    for (int g = 0; g < 3; g++)
        if (a->s[g].collections != b->s[g].collections || a->s[g].collected != b->s[g].collected ||
            a->s[g].uncollectable != b->s[g].uncollectable)
            return 0;
    return 1;
}

/* 1 if a and b differ only by (dcoll, dcollected, duncoll) in generation g */
static int stats_delta_only(const stats3* a, const stats3* b, int g, int64_t dcoll, int64_t dcollected, int64_t duncoll) {
    int r = 1;
    for (int i = 0; i < 3; i++) {
        int64_t ec = i == g ? dcoll : 0, ed = i == g ? dcollected : 0, eu = i == g ? duncoll : 0;
        if (b->s[i].collections - a->s[i].collections != ec || b->s[i].collected - a->s[i].collected != ed ||
            b->s[i].uncollectable - a->s[i].uncollectable != eu)
            r = 0;
    }
    if (!r) {
        for (int i = 0; i < 3; i++)
            fprintf(stderr, "\n  stats[%d]: collections %+lld, collected %+lld, uncollectable %+lld", i,
                    (long long)(b->s[i].collections - a->s[i].collections),
                    (long long)(b->s[i].collected - a->s[i].collected),
                    (long long)(b->s[i].uncollectable - a->s[i].uncollectable));
        fprintf(stderr, "\n  expected %+lld / %+lld / %+lld in generation %d only\n", (long long)dcoll, (long long)dcollected,
                (long long)duncoll, g);
    }
    return r;
}

static int eq64(const char* what, int64_t got, int64_t want) {
    if (got != want) fprintf(stderr, "\n  %s = %lld, expected %lld\n", what, (long long)got, (long long)want);
    return got == want;
}

/* The last error message is text, or "<func>: text" (the library's convention elsewhere). */
static int msg_is(const char* func, const char* text) {
    const char* m = phn_last_error_message();
    char pre[512];
    snprintf(pre, sizeof pre, "%s: %s", func, text);
    int r = m != NULL && (strcmp(m, text) == 0 || strcmp(m, pre) == 0);
    if (!r)
        fprintf(stderr, "\n  last error message \"%s\"\n  expected \"%s\" (or prefixed \"%s: \")\n", m ? m : "(null)", text,
                func);
    return r;
}

/* A new untracked GC object of type t (phn_gc_new: body not zeroed - zero it). */
static Node* new_untracked(phn_type* t) {
    Node* n = (Node*)phn_gc_new(t);
    if (n == NULL) {
        fprintf(stderr, "phn_gc_new: %s\n", phn_last_error_message());
        abort();
    }
    memset((char*)n + sizeof(phn_object), 0, sizeof(Node) - sizeof(phn_object));
    n->id = next_node_id++;
    return n;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* a copy of the objects of a listing call */
static int contains_ptr(phn_object* const* arr, int64_t n, const void* p) {
    for (int64_t i = 0; i < n; i++)
        if (U(arr[i]) == U(p)) return 1;
    return 0;
}
static int count_ptr(phn_object* const* arr, int64_t n, const void* p) {
    int c = 0;
    for (int64_t i = 0; i < n; i++)
        if (U(arr[i]) == U(p)) c++;
    return c;
}

/* ------------------------------------------------------------------ gc callbacks */

typedef struct cbev {
    int tag;
    int32_t phase;
    phn_gc_info info;
    int64_t allocs;        /* allocs_started when called */
    int64_t stats_coll[3]; /* get_stats()[g].collections inside the callback */
    int64_t stats_collected2;
    int64_t nested;        /* phn_gc_collect(2) from inside, when asked */
    int32_t enabled;
} cbev;

#define CBEV_MAX 4096
static cbev cbevs[CBEV_MAX];
static int ncbev;
static int64_t allocs_started;

typedef struct cbctx {
    int tag;
    int fail;           /* return -1 */
    int collect_inside; /* call phn_gc_collect(2) and record the result */
} cbctx;

static int32_t PHN_CALL gc_cb(void* ctx, int32_t phase, const phn_gc_info* info) {
    cbctx* c = (cbctx*)ctx;
    glog_add(EV_GCCB, c->tag * 10 + phase);
    if (ncbev < CBEV_MAX) {
        cbev* e = &cbevs[ncbev++];
        memset(e, 0, sizeof *e);
        e->tag = c->tag;
        e->phase = phase;
        if (info) e->info = *info;
        else e->info.struct_size = 0xdead;
        e->allocs = allocs_started;
        for (int g = 0; g < 3; g++) e->stats_coll[g] = gc_stat(g, 0);
        e->stats_collected2 = gc_stat(2, 1);
        e->nested = -12345;
        if (c->collect_inside) e->nested = phn_gc_collect(2);
        e->enabled = phn_gc_is_enabled();
    }
    return c->fail ? -1 : 0;
}

static void cb_reset(void) { ncbev = 0; }

/* ------------------------------------------------------------------ error handler */

static int err_calls;
static int32_t err_code;
static char err_msg[512];

static void PHN_CALL on_error(void* ctx, int32_t code, const char* message) {
    (void)ctx;
    err_calls++;
    err_code = code;
    snprintf(err_msg, sizeof err_msg, "%s", message ? message : "(null)");
}

/* ------------------------------------------------------------------ fatal handler */

static int fatal_calls;
static char fatal_msg[1024];

static void PHN_CALL on_fatal(void* ctx, const char* message) {
    (void)ctx;
    fatal_calls++;
    snprintf(fatal_msg, sizeof fatal_msg, "%s", message ? message : "(null)");
}

/* ------------------------------------------------------------------ debug output */

#define DBG_MAX 4096
static char* dbg_line[DBG_MAX];
static int dbg_n;
static int dbg_ctx_ok;

static void PHN_CALL on_dbg(void* ctx, const char* line) {
    if (ctx == (void*)&dbg_ctx_ok) dbg_ctx_ok = 1;
    else dbg_ctx_ok = -1;
    if (dbg_n < DBG_MAX) dbg_line[dbg_n++] = strdup(line ? line : "(null)");
}

static void dbg_reset(void) {
    for (int i = 0; i < dbg_n; i++) free(dbg_line[i]);
    dbg_n = 0;
    dbg_ctx_ok = 0;
}

static int dbg_find(const char* re, int from) {
    for (int i = from; i < dbg_n; i++)
        if (regex_search(re, dbg_line[i]) == 1) return i;
    return -1;
}

static int dbg_count(const char* re) {
    int n = 0;
    for (int i = 0; i < dbg_n; i++)
        if (regex_search(re, dbg_line[i]) == 1) n++;
    return n;
}

static void dbg_dump(void) {
    fprintf(stderr, "\n  captured debug output (%d lines):\n", dbg_n);
    for (int i = 0; i < dbg_n && i < 40; i++) fprintf(stderr, "    | %s\n", dbg_line[i]);
}

/* the address of "... <Name 0xADDR>" in a line, or 0 */
static uintptr_t line_address(const char* line, const char* name) {
    char pre[128];
    snprintf(pre, sizeof pre, "<%s ", name);
    const char* p = strstr(line, pre);
    if (!p) return 0;
    p += strlen(pre);
    char* end = NULL;
    unsigned long long v = strtoull(p, &end, 16);
    if (end == p || *end != '>') return 0;
    return (uintptr_t)v;
}

/* ------------------------------------------------------------------ weakref callback */

static int32_t PHN_CALL wr_count_cb(void* ctx, phn_object* w) {
    (void)w;
    (*(int*)ctx)++;
    glog_add(EV_WEAKCB, 0);
    return 0;
}

/* ================================================================== §16.3 automatic collection */

static cbctx rec_ctx = {1, 0, 0};

static void scenario_14(void) {
    gc_scenario_start();
    cb_reset();
    phn_gc_add_callback(gc_cb, &rec_ctx);
    CHECK("14: set_threshold(10, 10, 10) returns PHN_OK", phn_gc_set_threshold(10, 10, 10) == PHN_OK);
    CHECK_BODY("14: get_threshold() == (10, 10, 10)") {
        int32_t t[3] = {-1, -1, -1};
        result = phn_gc_get_threshold(t) == PHN_OK && t[0] == 10 && t[1] == 10 && t[2] == 10;
    }
    CHECK("14: after the standard start get_count() == (0, 0, 0)", count_is(0, 0, 0));
    phn_gc_enable();
    Node* n[11];
    allocs_started = 0;
    for (int i = 0; i < 10; i++) {
        allocs_started++;
        n[i] = new_node(T_node);
    }
    CHECK_BODY("14: 10 kept Nodes: no collection (no callback call), get_count() == (10, 0, 0)") {
        result = ncbev == 0 && count_is(10, 0, 0);
        if (ncbev) fprintf(stderr, "\n  %d callback calls\n", ncbev);
    }
    allocs_started++;
    n[10] = new_node(T_node);
    CHECK_BODY("14: the 11th Node starts exactly one automatic collection, of generation 0, inside its tracking") {
        result = ncbev == 2 && cbevs[0].phase == PHN_GC_PHASE_START && cbevs[1].phase == PHN_GC_PHASE_STOP &&
                 cbevs[0].info.generation == 0 && cbevs[1].info.generation == 0 && cbevs[0].allocs == 11;
        if (!result) {
            fprintf(stderr, "\n  %d callback calls:", ncbev);
            for (int i = 0; i < ncbev && i < 10; i++)
                fprintf(stderr, " (phase %d gen %d at alloc %lld)", cbevs[i].phase, cbevs[i].info.generation,
                        (long long)cbevs[i].allocs);
        }
    }
    CHECK_BODY("14: it found nothing: stop info collected 0, uncollectable 0") {
        result = ncbev == 2 && cbevs[1].info.collected == 0 && cbevs[1].info.uncollectable == 0;
    }
    CHECK("14: afterwards get_count() == (0, 1, 0)", count_is(0, 1, 0));
    CHECK_BODY("14: all 11 Nodes are in generation 1 (get_objects(1) has 11 objects, get_objects(0) none)") {
        int all = 1;
        for (int i = 0; i < 11; i++) all &= gc_in_generation(n[i], 1);
        result = all && eq64("get_objects(1)", gen_size(1), 11) && eq64("get_objects(0)", gen_size(0), 0);
    }
    phn_gc_disable();
    phn_gc_remove_callback(gc_cb, &rec_ctx);
    restore_thresholds();
    for (int i = 0; i < 11; i++) PHN_DECREF(n[i]);
}

static void scenario_15(void) {
    gc_scenario_start();
    cb_reset();
    phn_gc_add_callback(gc_cb, &rec_ctx);
    phn_gc_set_threshold(5, 2, 100);
    phn_gc_enable();
    Node* n[24];
    allocs_started = 0;
    for (int i = 0; i < 24; i++) {
        allocs_started++;
        n[i] = new_node(T_node);
    }
    phn_gc_disable();
    CHECK_BODY("15: set_threshold(5, 2, 100), 24 kept objects: collections at the 6th, 12th, 18th (gen 0) and 24th (gen 1)") {
        static const int64_t at[4] = {6, 12, 18, 24};
        static const int32_t gen[4] = {0, 0, 0, 1};
        result = ncbev == 8;
        for (int i = 0; i < 4 && result; i++)
            result = cbevs[2 * i].phase == PHN_GC_PHASE_START && cbevs[2 * i + 1].phase == PHN_GC_PHASE_STOP &&
                     cbevs[2 * i].allocs == at[i] && cbevs[2 * i].info.generation == gen[i] &&
                     cbevs[2 * i + 1].info.generation == gen[i];
        if (!result) {
            fprintf(stderr, "\n  %d callback calls:", ncbev);
            for (int i = 0; i < ncbev && i < 20; i++)
                fprintf(stderr, " (phase %d gen %d at alloc %lld)", cbevs[i].phase, cbevs[i].info.generation,
                        (long long)cbevs[i].allocs);
        }
    }
    CHECK("15: after the 4th get_count() == (0, 0, 1)", count_is(0, 0, 1));
    CHECK_BODY("15: the 24 objects are in generation 2 after the generation-1 collection") {
        int all = 1;
        for (int i = 0; i < 24; i++) all &= gc_in_generation(n[i], 2);
        result = all && eq64("get_objects(0)", gen_size(0), 0) && eq64("get_objects(1)", gen_size(1), 0);
    }
    phn_gc_remove_callback(gc_cb, &rec_ctx);
    restore_thresholds();
    for (int i = 0; i < 24; i++) PHN_DECREF(n[i]);
}

static void scenario_16(void) {
    gc_scenario_start();
    phn_gc_enable();
    CHECK_BODY("16: from the enabled state, phn_gc_disable() returns 1, a second call 0") {
        int32_t a = phn_gc_disable(), b = phn_gc_disable();
        result = a == 1 && b == 0 && phn_gc_is_enabled() == 0;
    }
    cb_reset();
    phn_gc_add_callback(gc_cb, &rec_ctx);
    phn_gc_set_threshold(100, 10, 10);
    const int N = 10000;
    for (int i = 0; i < N; i++) {
        Node* a = new_node(T_node);
        node_set(a, 0, a);
        PHN_DECREF(a);
    }
    CHECK_BODY("16: disabled, threshold 100: 10,000 dropped self-cycles trigger nothing; get_count()[0] == 10000") {
        int32_t c[3];
        get_count3(c);
        result = ncbev == 0 && c[0] == N && gcount[EV_DEALLOC] == 0;
        if (!result) fprintf(stderr, "\n  %d callback calls, count0 %d, %ld deallocs\n", ncbev, c[0], gcount[EV_DEALLOC]);
    }
    CHECK_BODY("16: phn_gc_collect(2) still collects them: returns 10000, 10000 deallocs") {
        int64_t r = phn_gc_collect(2);
        result = eq64("collect(2)", r, N) && eq64("deallocs", gcount[EV_DEALLOC], N);
    }
    cb_reset();
    phn_gc_set_threshold(0, 10, 10);
    phn_gc_enable();
    Node* kept[200];
    for (int i = 0; i < 200; i++) kept[i] = new_node(T_node);
    CHECK_BODY("16: set_threshold(0) with the collector enabled: 200 new objects, no automatic collection") {
        int32_t c[3];
        get_count3(c);
        result = ncbev == 0 && c[0] == 200 && phn_gc_is_enabled() == 1;
        if (!result) fprintf(stderr, "\n  %d callback calls, count0 %d\n", ncbev, c[0]);
    }
    phn_gc_disable();
    phn_gc_remove_callback(gc_cb, &rec_ctx);
    restore_thresholds();
    for (int i = 0; i < 200; i++) PHN_DECREF(kept[i]);
}

/* The automatic collections of §6.2-§6.4 when every object survives: starting from a full
 * collection that left total objects, counts (0,0,0). Fills at[] / gen[] with the
 * allocation index and generation of each collection; returns how many. */
static int model_automatic(int64_t total, int32_t t0, int32_t t1, int32_t t2, int64_t nallocs, int64_t* at, int32_t* gen,
                           int max) {
    int64_t c[3] = {0, 0, 0}, size[3] = {0, 0, total}, pending = 0, lltotal = total;
    int k = 0;
    for (int64_t a = 1; a <= nallocs; a++) {
        c[0]++;
        size[0]++;
        if (!(c[0] > t0)) continue;
        int g = -1;
        for (int i = 2; i >= 0; i--) {
            int64_t th = i == 0 ? t0 : i == 1 ? t1 : t2;
            if (c[i] > th) {
                if (i == 2 && pending < lltotal / 4) continue;
                g = i;
                break;
            }
        }
        if (g < 0) continue;
        if (k < max) {
            at[k] = a;
            gen[k] = g;
        }
        k++;
        if (g < 2) c[g + 1]++;
        for (int i = 0; i <= g; i++) c[i] = 0;
        if (g == 0) {
            size[1] += size[0];
            size[0] = 0;
        } else if (g == 1) {
            int64_t surv = size[0] + size[1];
            size[2] += surv;
            size[0] = size[1] = 0;
            pending += surv;
        } else {
            int64_t surv = size[0] + size[1] + size[2];
            size[2] = surv;
            size[0] = size[1] = 0;
            pending = 0;
            lltotal = surv;
        }
    }
    return k;
}

static void scenario_17(void) {
    gc_scenario_start();
    const int64_t L = 1000;
    int64_t have = tracked_total();
    int64_t fill = L - have;
    Node** base = (Node**)calloc((size_t)(fill > 0 ? fill : 1), sizeof *base);
    for (int64_t i = 0; i < fill; i++) base[i] = new_node(T_node);
    int64_t r0 = phn_gc_collect(2);
    CHECK_BODY("17: collect(2) with exactly 1000 live tracked objects: returns 0, generation 2 holds 1000") {
        result = fill >= 0 && eq64("collect(2)", r0, 0) && eq64("tracked objects", tracked_total(), L) &&
                 eq64("get_objects(2)", gen_size(2), L);
    }
    const int64_t NA = 650;
    Node** n = (Node**)calloc((size_t)NA, sizeof *n);
    cb_reset();
    phn_gc_add_callback(gc_cb, &rec_ctx);
    phn_gc_set_threshold(10, 1, 1);
    int64_t coll2_before = gc_stat(2, 0);
    phn_gc_enable();
    allocs_started = 0;
    for (int64_t i = 0; i < NA; i++) {
        allocs_started++;
        n[i] = new_node(T_node);
    }
    phn_gc_disable();
    /* the starts, in order */
    int64_t at[256];
    int32_t gen[256];
    int64_t coll2_in_stop[256];
    int k = 0, wellformed = 1;
    for (int i = 0; i < ncbev; i++) {
        if (cbevs[i].phase == PHN_GC_PHASE_START) {
            if (k < 256) {
                at[k] = cbevs[i].allocs;
                gen[k] = cbevs[i].info.generation;
                coll2_in_stop[k] = (i + 1 < ncbev) ? cbevs[i + 1].stats_coll[2] : -1;
            }
            k++;
            if (i + 1 >= ncbev || cbevs[i + 1].phase != PHN_GC_PHASE_STOP) wellformed = 0;
        }
    }
    int64_t mat[256];
    int32_t mgen[256];
    int mk = model_automatic(L, 10, 1, 1, NA, mat, mgen, 256);
    int first2 = -1, second2 = -1;
    for (int i = 0; i < k && i < 256; i++)
        if (gen[i] == 2) {
            if (first2 < 0) first2 = i;
            else if (second2 < 0) second2 = i;
        }
    CHECK_BODY("17: thresholds (10, 1, 1), L = 1000: the automatic collections are exactly those of §6.2-§6.4 (model)") {
        result = wellformed && k == mk;
        for (int i = 0; i < k && i < 256 && result; i++) result = at[i] == mat[i] && gen[i] == mgen[i];
        if (!result) {
            fprintf(stderr, "\n  %d collections (model %d):", k, mk);
            for (int i = 0; i < k && i < 60; i++) fprintf(stderr, " %lld:g%d", (long long)at[i], gen[i]);
            fprintf(stderr, "\n  model:");
            for (int i = 0; i < mk && i < 60; i++) fprintf(stderr, " %lld:g%d", (long long)mat[i], mgen[i]);
            fprintf(stderr, "\n");
        }
    }
    CHECK_BODY("17: no generation-2 collection while fewer than 250 objects were promoted (count2 reaches 8 > 1 meanwhile)") {
        /* 8 generation-1 collections of 33 survivors each: 264 >= 250 after the 8th */
        int gen1_before = 0;
        for (int i = 0; i < k && i < 256 && (first2 < 0 || i < first2); i++) gen1_before += gen[i] == 1;
        result = first2 >= 0 && gen1_before == 8;
        if (!result) fprintf(stderr, "\n  %d generation-1 collections before the first generation-2 one (index %d)\n", gen1_before, first2);
    }
    CHECK_BODY("17: the first generation-2 collection is at the 275th new object (264 promoted >= 250, count2 8 > 1)") {
        result = first2 >= 0 && eq64("allocation index", at[first2], 275);
    }
    CHECK_BODY("17: get_stats()[2].collections grew by exactly 1 at it (read in its \"stop\" callback)") {
        result = first2 >= 0 && eq64("stats[2].collections - before", coll2_in_stop[first2] - coll2_before, 1);
    }
    CHECK_BODY("17: the pending count restarted from 0: the next generation-2 collection needs 330 >= 1275 // 4 -> object 616") {
        result = second2 >= 0 && eq64("allocation index", at[second2], 616);
        if (second2 < 0) fprintf(stderr, "\n  no second generation-2 collection in %lld objects\n", (long long)NA);
    }
    CHECK("17: get_stats()[2].collections grew by 2 in all", eq64("delta", gc_stat(2, 0) - coll2_before, 2));
    phn_gc_remove_callback(gc_cb, &rec_ctx);
    restore_thresholds();
    for (int64_t i = 0; i < NA; i++) PHN_DECREF(n[i]);
    for (int64_t i = 0; i < fill; i++) PHN_DECREF(base[i]);
    free(n);
    free(base);
}

static void scenario_18(void) {
    gc_scenario_start();
    Node* x = new_node(T_node);
    CHECK("18: a new Node X is in get_objects(0), get_count() == (1, 0, 0)", gc_in_generation(x, 0) && count_is(1, 0, 0));
    phn_gc_collect(0);
    CHECK("18: after collect(0): X in generation 1, get_count() == (0, 1, 0)",
          gc_in_generation(x, 1) && !gc_in_generation(x, 0) && count_is(0, 1, 0));
    phn_gc_collect(1);
    CHECK("18: after collect(1): X in generation 2, get_count() == (0, 0, 1)",
          gc_in_generation(x, 2) && !gc_in_generation(x, 1) && count_is(0, 0, 1));
    phn_gc_collect(2);
    CHECK("18: after collect(2): X in generation 2, get_count() == (0, 0, 0)", gc_in_generation(x, 2) && count_is(0, 0, 0));
    CHECK("18: X is in get_objects(-1) too", gc_in_generation(x, -1));
    PHN_DECREF(x);
}

static void scenario_19(void) {
    gc_scenario_start();
    for (int g = 0; g < 3; g++) {
        stats3 a = stats_all();
        int64_t r = phn_gc_collect(g);
        stats3 b = stats_all();
        char name[160];
        snprintf(name, sizeof name, "19: collect(%d) returns 0 and increments only get_stats()[%d].collections", g, g);
        CHECK(name, r == 0 && stats_delta_only(&a, &b, g, 1, 0, 0));
    }
    Node* a = new_node(T_node);
    Node* b = new_node(T_node);
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    stats3 s0 = stats_all();
    int64_t r = phn_gc_collect(2);
    stats3 s1 = stats_all();
    CHECK("19: a dropped 2-cycle: collect(2) returns 2, stats[2] collections +1, collected +2, nothing elsewhere",
          r == 2 && stats_delta_only(&s0, &s1, 2, 1, 2, 0));
    CHECK("19: get_stats(g).struct_size is kept, duration >= 0", s1.s[2].struct_size == sizeof(phn_gc_stats) && s1.s[2].duration >= 0);
}

static void scenario_20(void) {
    gc_scenario_start();
    Node* o = new_node(T_node);
    phn_gc_collect(2);
    Node* y = new_node(T_node);
    node_set(o, 0, y);
    node_set(y, 0, o);
    int in2 = gc_in_generation(o, 2), in0 = gc_in_generation(y, 0);
    int64_t oid = o->id, yid = y->id;
    PHN_DECREF(o);
    PHN_DECREF(y);
    int64_t r0 = phn_gc_collect(0);
    CHECK("20: O (generation 2) <-> Y (generation 0), dropped: collect(0) returns 0, Y promoted to generation 1",
          in2 && in0 && r0 == 0 && gc_in_generation(y, 1) && gcount[EV_DEALLOC] == 0);
    int64_t r1 = phn_gc_collect(1);
    CHECK("20: collect(1) returns 0, nothing freed", r1 == 0 && gcount[EV_DEALLOC] == 0 && gc_in_generation(y, 2));
    int64_t r2 = phn_gc_collect(2);
    CHECK("20: collect(2) returns 2; both deallocated once", eq64("collect(2)", r2, 2) && glog_count(EV_DEALLOC, oid) == 1 &&
                                                                  glog_count(EV_DEALLOC, yid) == 1);
}

static void scenario_21(void) {
    gc_scenario_start();
    Node* g = new_node(T_node);
    node_set(g, 0, g);
    phn_gc_collect(2);
    Node* y = new_node(T_node);
    node_set(g, 1, y);
    int64_t gid = g->id, yid = y->id;
    PHN_DECREF(y);
    PHN_DECREF(g);
    int64_t r0 = phn_gc_collect(0);
    CHECK("21: young Y held by an old dropped self-cycle: collect(0) returns 0, nothing freed", r0 == 0 && gcount[EV_DEALLOC] == 0);
    int64_t r2 = phn_gc_collect(2);
    CHECK("21: collect(2) returns 2, both deallocated", eq64("collect(2)", r2, 2) && glog_count(EV_DEALLOC, gid) == 1 &&
                                                            glog_count(EV_DEALLOC, yid) == 1);
}

/* ================================================================== §16.4 cycle detection */

typedef struct tkind {
    phn_type* t;
    const char* label;
} tkind;

/* scenario 22 */
static void cyc_self(tkind A) {
    char name[256];
    gc_scenario_start();
    int64_t base = tracked_total();
    Node* a = new_node(A.t);
    int64_t aid = a->id;
    node_set(a, 0, a);
    PHN_DECREF(a);
    stats3 s0 = stats_all();
    int64_t r = phn_gc_collect(2);
    stats3 s1 = stats_all();
    snprintf(name, sizeof name, "22 [%s]: self-cycle: collect() returns 1, stats[2] collected +1, the object is gone", A.label);
    CHECK(name, eq64("collect()", r, 1) && stats_delta_only(&s0, &s1, 2, 1, 1, 0) && eq64("tracked", tracked_total(), base));
    if (is_logged_type(A.t)) {
        snprintf(name, sizeof name, "22 [%s]: clear called once, dealloc once", A.label);
        CHECK(name, glog_count(EV_CLEAR, aid) == 1 && glog_count(EV_DEALLOC, aid) == 1 && glog_count(EV_FREE, aid) == 1);
    }
    CHECK("22: a second collect() returns 0", phn_gc_collect(2) == 0);
}

/* scenario 23 */
static void cyc_two(tkind A, tkind B) {
    char name[256];
    gc_scenario_start();
    int64_t base = tracked_total();
    Node* a = new_node(A.t);
    Node* b = new_node(B.t);
    int64_t aid = a->id, bid = b->id;
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    snprintf(name, sizeof name, "23 [%s <-> %s]: 2-cycle: collect() returns 2, both gone", A.label, B.label);
    CHECK(name, eq64("collect()", r, 2) && eq64("tracked", tracked_total(), base));
    int la = is_logged_type(A.t), lb = is_logged_type(B.t);
    if (la || lb) {
        snprintf(name, sizeof name, "23 [%s <-> %s]: each callback-described object deallocated once%s", A.label, B.label,
                 la && lb ? "; clear called 1 or 2 times" : "");
        CHECK_BODY(name) {
            result = (!la || glog_count(EV_DEALLOC, aid) == 1) && (!lb || glog_count(EV_DEALLOC, bid) == 1);
            if (la && lb) result = result && gcount[EV_CLEAR] >= 1 && gcount[EV_CLEAR] <= 2;
        }
    }
}

/* scenario 24 */
static void cyc_external(tkind A, tkind B) {
    char name[256];
    gc_scenario_start();
    int64_t base = tracked_total();
    Node* a = new_node(A.t);
    Node* b = new_node(B.t);
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    snprintf(name, sizeof name, "24 [%s <-> %s]: the test holds A: collect() returns 0, nothing cleared, both in generation 2",
             A.label, B.label);
    CHECK(name, eq64("collect()", r, 0) && gcount[EV_CLEAR] == 0 && gcount[EV_DEALLOC] == 0 && gc_in_generation(a, 2) &&
                    gc_in_generation(b, 2) && eq64("tracked", tracked_total(), base + 2));
    PHN_DECREF(a);
    r = phn_gc_collect(2);
    snprintf(name, sizeof name, "24 [%s <-> %s]: once A is dropped collect() returns 2", A.label, B.label);
    CHECK(name, eq64("collect()", r, 2) && eq64("tracked", tracked_total(), base));
}

/* scenario 25: A <-> B, B.slot1 -> C */
static void cyc_tail(tkind A, tkind B, tkind C, int c_is_gc) {
    char name[256];
    gc_scenario_start();
    int wr_calls = 0;
    phn_object* wr = NULL;
    Node* a = new_node(A.t);
    Node* b = new_node(B.t);
    Node* c = new_node(C.t);
    int64_t cid = c->id;
    if (!is_logged_type(C.t) && !c_is_gc) wr = phn_weakref_new(O(c), wr_count_cb, &wr_calls);
    int64_t base = tracked_total();
    node_set(a, 0, b);
    node_set(b, 0, a);
    node_set(b, 1, c);
    PHN_DECREF(a);
    PHN_DECREF(b);
    PHN_DECREF(c);
    int64_t r = phn_gc_collect(2);
    int64_t want = c_is_gc ? 3 : 2;
    snprintf(name, sizeof name, "25 [%s <-> %s -> %s]: collect() returns %lld, the tail is deallocated", A.label, B.label,
             C.label, (long long)want);
    CHECK_BODY(name) {
        result = eq64("collect()", r, want) && eq64("tracked", tracked_total(), base - (c_is_gc ? 3 : 2));
        if (is_logged_type(C.t)) result = result && glog_count(EV_DEALLOC, cid) == 1;
        else if (!c_is_gc) result = result && wr != NULL && wr_calls == 1;
        if (!c_is_gc && !is_logged_type(C.t) && wr == NULL) fprintf(stderr, "\n  phn_weakref_new: %s\n", phn_last_error_message());
    }
    PHN_XDECREF(wr);
}

/* scenario 26: A (tracked) <-> T (never tracked, or non-GC holder) */
static void cyc_untracked(tkind A, tkind T, int holder) {
    char name[256];
    gc_scenario_start();
    int64_t base = tracked_total();
    Node* a = new_node(A.t);
    Node* t = holder ? new_node(T.t) : new_untracked(T.t);
    int64_t aid = a->id, tid = t->id;
    node_set(a, 0, t);
    node_set(t, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(t);
    int64_t r = phn_gc_collect(2);
    snprintf(name, sizeof name, "26 [%s <-> %s %s]: collect() returns 0, both leak (the edge counts as external)", A.label,
             holder ? "non-GC" : "untracked", T.label);
    CHECK(name, eq64("collect()", r, 0) && gcount[EV_DEALLOC] == 0 && gcount[EV_CLEAR] == 0 && gc_in_generation(a, 2) &&
                    phn_gc_is_tracked(O(t)) == 0 && eq64("tracked", tracked_total(), base + 1) &&
                    PHN_REFCNT(a) == 1 && PHN_REFCNT(t) == 1);
    /* break the cycle by hand: frees both by reference counting */
    PHN_CLEAR(t->slot[0]);
    snprintf(name, sizeof name, "26 [%s <-> %s]: breaking the edge by hand frees both", A.label, T.label);
    CHECK_BODY(name) {
        result = eq64("tracked", tracked_total(), base);
        if (is_logged_type(A.t)) result = result && glog_count(EV_DEALLOC, aid) == 1;
        if (is_logged_type(T.t)) result = result && glog_count(EV_DEALLOC, tid) == 1;
    }
}

/* scenario 27 */
static void cyc_hidden(void) {
    gc_scenario_start();
    Node* a = new_node(T_hidden);
    Node* b = new_node(T_node);
    int64_t aid = a->id, bid = b->id;
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    CHECK("27: HNode A (slot0 -> B, not visited) <-> B: collect() returns 0, nothing cleared, both in generation 2",
          eq64("collect()", r, 0) && gcount[EV_CLEAR] == 0 && gcount[EV_DEALLOC] == 0 && gc_in_generation(a, 2) &&
              gc_in_generation(b, 2));
    PHN_CLEAR(a->slot[0]);
    CHECK("27: breaking the hidden edge by hand frees both", glog_count(EV_DEALLOC, aid) == 1 && glog_count(EV_DEALLOC, bid) == 1);
}

/* scenario 29: two objects nobody can clear */
static void cyc_noclear(tkind A, tkind B) {
    char name[256];
    gc_scenario_start();
    int64_t base = tracked_total();
    Node* a = new_node(A.t);
    Node* b = new_node(B.t);
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    snprintf(name, sizeof name, "29 [%s <-> %s]: collect() returns 2 but nothing is deallocated; both in generation 2, not in gc.garbage",
             A.label, B.label);
    CHECK(name, eq64("collect()", r, 2) && gcount[EV_DEALLOC] == 0 && gc_in_generation(a, 2) && gc_in_generation(b, 2) &&
                    eq64("tracked", tracked_total(), base + 2) && phn_gc_garbage_count() == 0);
    r = phn_gc_collect(2);
    snprintf(name, sizeof name, "29 [%s <-> %s]: the next collect() returns 2 again", A.label, B.label);
    CHECK(name, eq64("collect()", r, 2) && gcount[EV_DEALLOC] == 0 && gc_in_generation(a, 2));
    PHN_CLEAR(a->slot[0]);   /* frees both */
    snprintf(name, sizeof name, "29 [%s <-> %s]: broken by hand, both are freed", A.label, B.label);
    CHECK(name, eq64("tracked", tracked_total(), base) && phn_gc_collect(2) == 0);
}

/* scenario 30: one clear is enough */
static void cyc_oneclear(tkind A, tkind B) {
    char name[256];
    gc_scenario_start();
    int64_t base = tracked_total();
    Node* a = new_node(A.t);
    Node* b = new_node(B.t);
    int64_t bid = b->id, aid = a->id;
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    snprintf(name, sizeof name, "30 [%s <-> %s]: collect() returns 2, both deallocated", A.label, B.label);
    CHECK_BODY(name) {
        result = eq64("collect()", r, 2) && eq64("tracked", tracked_total(), base);
        if (is_logged_type(A.t)) result = result && glog_count(EV_DEALLOC, aid) == 1;
        if (is_logged_type(B.t)) result = result && glog_count(EV_DEALLOC, bid) == 1;
    }
}

/* a ring of n objects, types alternating t1, t2; returns collect(2)'s time */
static double ring(phn_type* t1, phn_type* t2, int64_t n, int64_t* collected, int64_t* tracked_after, int64_t* base_out) {
    gc_scenario_start();
    int64_t base = tracked_total();
    Node** v = (Node**)malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = new_node((i & 1) ? t2 : t1);
    for (int64_t i = 0; i < n; i++) node_set(v[i], 0, v[(i + 1) % n]);
    for (int64_t i = 0; i < n; i++) PHN_DECREF(v[i]);
    free(v);
    double t0 = now_s();
    *collected = phn_gc_collect(2);
    double t = now_s() - t0;
    *tracked_after = tracked_total();
    *base_out = base;
    return t;
}

/* scenario 31 */
static void cyc_scale(tkind A, tkind B) {
    char name[256];
    int64_t got, after, base;
    int logged = is_logged_type(A.t) && is_logged_type(B.t);
    /* interleaved runs, best of 3 for each size (the machine may be busy) */
    double t1 = 1e9, t2 = 1e9;
    int ok1 = 1, ok2 = 1;
    for (int run = 0; run < 3; run++) {
        double t = ring(A.t, B.t, 100000, &got, &after, &base);
        if (t < t1) t1 = t;
        ok1 = ok1 && eq64("collect()", got, 100000) && eq64("tracked", after, base) && (!logged || gcount[EV_DEALLOC] == 100000);
        t = ring(A.t, B.t, 200000, &got, &after, &base);
        if (t < t2) t2 = t;
        ok2 = ok2 && eq64("collect()", got, 200000) && eq64("tracked", after, base) && (!logged || gcount[EV_DEALLOC] == 200000);
    }
    snprintf(name, sizeof name, "31 [%s/%s]: a dropped ring of 100,000 (3 times): collect() returns 100000, all freed (best %.3f s)",
             A.label, B.label, t1);
    CHECK(name, ok1);
    snprintf(name, sizeof name, "31 [%s/%s]: a dropped ring of 200,000 (3 times): collect() returns 200000, all freed (best %.3f s)",
             A.label, B.label, t2);
    CHECK(name, ok2);
    snprintf(name, sizeof name, "31 [%s/%s]: time roughly proportional to size: best t(2e5) %.3f s < 3 * best t(1e5) + 0.05 s",
             A.label, B.label, t2);
    CHECK(name, t2 < 3.0 * t1 + 0.05);

    /* a chain: each node referenced by the next-created one, only the last held */
    gc_scenario_start();
    base = tracked_total();
    const int64_t n = 100000;
    Node* prev = NULL;
    for (int64_t i = 0; i < n; i++) {
        Node* x = new_node((i & 1) ? B.t : A.t);
        if (prev) {
            node_set(x, 0, prev);
            PHN_DECREF(prev);
        }
        prev = x;
    }
    int64_t r = phn_gc_collect(2);
    snprintf(name, sizeof name, "31 [%s/%s]: a 100,000 chain held only by its last node: collect() returns 0, nothing freed",
             A.label, B.label);
    CHECK(name, eq64("collect()", r, 0) && eq64("tracked", tracked_total(), base + n) && gcount[EV_DEALLOC] == 0 &&
                    gcount[EV_CLEAR] == 0);
    PHN_DECREF(prev);
    snprintf(name, sizeof name, "31 [%s/%s]: dropping the last node frees the whole chain by reference counting", A.label, B.label);
    CHECK(name, eq64("tracked", tracked_total(), base) && (!logged || gcount[EV_DEALLOC] == n) && phn_gc_collect(2) == 0);
}

/* ------------------------------------------------------------------ scenario 28 */

/* The child: the default fatal handler; must not come back from phn_gc_collect. */
static int bad_traverse_child(void) {
    phn_type* tb = node_type("BadNode28", NV_BAD);
    phn_type* tn = node_type("Node28", 0);
    gc_scenario_start();
    Node* a = new_node(tb);
    Node* b = new_node(tn);
    node_set(a, 0, b);
    node_set(b, 0, a);
    printf("A=%lx\nB=%lx\n", (unsigned long)U(a), (unsigned long)U(b));
    fflush(stdout);
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t r = phn_gc_collect(2);
    printf("survived: collect returned %lld\n", (long long)r);
    fflush(stdout);
    return 0;
}

static void scenario_28_child(void) {
    child_result r;
    int rc = run_self("--bad-traverse", NULL, NULL, &r);
    if (rc != 0) {
        memset(&r, 0, sizeof r);
        r.out = strdup("");
        r.err = strdup("");
    }
    CHECK_BODY("28 (child, default fatal handler): BadNode A (slot0 -> B) <-> B dropped: collect ends in SIGABRT, never returns") {
        result = r.signaled && r.signo == SIGABRT && strstr(r.out, "survived") == NULL;
        if (!result) {
            fprintf(stderr, "\n  child ");
            describe_child(&r);
            echo_prefixed("out", r.out);
            echo_prefixed("err", r.err);
        }
    }
    CHECK_BODY("28 (child): stderr has the fatal line \"Fatal error: ...refcount is too small...\"") {
        result = regex_search("Fatal error: [^\n]*refcount is too small", r.err) == 1;
        if (!result) echo_prefixed("err", r.err);
    }
    CHECK_BODY("28 (child): CPython's test_gc regex 'gc_decref: Assertion \"gc_get_refs\\(g\\) > 0\" failed' matches") {
        result = regex_search("gc_decref: Assertion \"gc_get_refs\\(g\\) > 0\" failed", r.err) == 1 &&
                 regex_search("refcount is too small", r.err) == 1;
        if (!result) echo_prefixed("err", r.err);
    }
    char B[64];
    child_value(r.out, "B", B, sizeof B);
    CHECK_BODY("28 (child): the diagnostic names the object (B's address and its type name, §7.12 / §15)") {
        /* the address in any case, with or without 0x and leading zeros */
        char lower[4096];
        size_t n = r.err ? strlen(r.err) : 0;
        if (n >= sizeof lower) n = sizeof lower - 1;
        for (size_t i = 0; i < n; i++) lower[i] = (char)((r.err[i] >= 'A' && r.err[i] <= 'F') ? r.err[i] + 32 : r.err[i]);
        lower[n] = '\0';
        result = strncmp(B, "MISSING", 7) != 0 && strstr(lower, B) != NULL && strstr(r.err, "Node28") != NULL;
        if (!result) {
            fprintf(stderr, "\n  B = %s\n", B);
            echo_prefixed("err", r.err);
        }
    }
    child_result_free(&r);
}

static void scenario_28_handler(void) {
    gc_scenario_start();
    phn_type* tb = T_bad;
    Node* a = new_node(tb);
    Node* b = new_node(T_node);
    int64_t aid = a->id, bid = b->id;
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    int64_t tracked_before = tracked_total();
    fatal_calls = 0;
    fatal_msg[0] = '\0';
    phn_set_fatal_handler(on_fatal, NULL);
    stderr_capture cap;
    int capped = stderr_capture_begin(&cap) == 0;
    int64_t r = phn_gc_collect(2);
    char* err = capped ? stderr_capture_end(&cap) : strdup("");
    CHECK_BODY("28 (fatal handler that returns): called once with \"...refcount is too small...\"") {
        result = fatal_calls == 1 && strstr(fatal_msg, "refcount is too small") != NULL;
        if (!result) {
            fprintf(stderr, "\n  %d fatal call(s), last message \"%s\"\n", fatal_calls, fatal_msg);
            echo_prefixed("captured stderr", err);
        }
    }
    CHECK_BODY("28 (handler returns): the collection is abandoned: collect returns a negative status, nothing cleared or freed") {
        result = r < 0 && gcount[EV_CLEAR] == 0 && gcount[EV_DEALLOC] == 0 && gcount[EV_FINALIZE] == 0;
        if (!result) fprintf(stderr, "\n  collect returned %lld, %ld clears, %ld deallocs\n", (long long)r, gcount[EV_CLEAR], gcount[EV_DEALLOC]);
    }
    CHECK_BODY("28 (handler returns): the objects are still there and consistent (tracked, listed, counts 1 / 1, links intact)") {
        result = phn_gc_is_tracked(O(a)) == 1 && phn_gc_is_tracked(O(b)) == 1 && gc_in_generation(a, -1) &&
                 gc_in_generation(b, -1) && PHN_REFCNT(a) == 1 && PHN_REFCNT(b) == 1 && a->slot[0] == O(b) &&
                 b->slot[0] == O(a) && eq64("tracked", tracked_total(), tracked_before);
    }
    free(err);
    /* the same bug again: diagnosed again, nothing breaks */
    fatal_calls = 0;
    capped = stderr_capture_begin(&cap) == 0;
    r = phn_gc_collect(2);
    err = capped ? stderr_capture_end(&cap) : strdup("");
    CHECK("28 (handler returns): a second collection diagnoses it again and is abandoned again",
          fatal_calls == 1 && r < 0 && gcount[EV_DEALLOC] == 0);
    free(err);
    phn_set_fatal_handler(NULL, NULL);
    /* fix the traverse: BadNode's variant loses NV_BAD */
    for (int i = 0; i < node_type_count; i++)
        if (node_types[i].type == tb) node_types[i].variant &= ~(unsigned)NV_BAD;
    r = phn_gc_collect(2);
    CHECK("28: once the traverse is fixed, collect() returns 2 and frees both",
          eq64("collect()", r, 2) && glog_count(EV_DEALLOC, aid) == 1 && glog_count(EV_DEALLOC, bid) == 1 &&
              eq64("tracked", tracked_total(), tracked_before - 2));
    for (int i = 0; i < node_type_count; i++)
        if (node_types[i].type == tb) node_types[i].variant |= NV_BAD;
}

static void section_16_4(void) {
    tkind N = {T_node, "Node"}, LN = {L_node, "LNode"}, NC = {T_nc, "NCNode"}, LNC = {L_noclear, "LNCNode(no-op clear)"};
    tkind LEAF = {T_leaf, "Leaf"}, LWLEAF = {L_wleaf, "LWLeaf(layout, non-GC)"}, HOLD = {T_holder, "Holder"},
          LHOLD = {L_holder, "LHolder"};

    /* callback types */
    cyc_self(N);
    cyc_two(N, N);
    cyc_external(N, N);
    cyc_tail(N, N, N, 1);
    cyc_tail(N, N, LEAF, 0);
    cyc_untracked(N, N, 0);
    cyc_untracked(N, HOLD, 1);
    cyc_hidden();
    scenario_28_child();
    scenario_28_handler();
    cyc_noclear(NC, NC);
    cyc_oneclear(N, NC);
    cyc_scale(N, N);

    /* layout types: no callback at all */
    cyc_self(LN);
    cyc_two(LN, LN);
    cyc_external(LN, LN);
    cyc_tail(LN, LN, LN, 1);
    cyc_tail(LN, LN, LWLEAF, 0);
    cyc_untracked(LN, LN, 0);
    cyc_untracked(LN, LHOLD, 1);
    cyc_noclear(LNC, LNC);
    cyc_oneclear(LN, NC);
    cyc_oneclear(NC, LN);
    cyc_scale(LN, LN);

    /* mixed */
    cyc_two(LN, N);
    cyc_two(N, LN);
    cyc_external(N, LN);
    cyc_tail(LN, N, LEAF, 0);
    cyc_tail(N, LN, LN, 1);
    cyc_untracked(LN, N, 0);
    cyc_untracked(N, LN, 0);
    cyc_noclear(NC, LNC);
    cyc_oneclear(LNC, N);
    cyc_scale(N, LN);
}

/* ================================================================== debug output */

static void debug_output(void) {
    gc_scenario_start();
    dbg_reset();
    CHECK("debug: phn_gc_set_debug_output(capture, ctx) returns PHN_OK", phn_gc_set_debug_output(on_dbg, &dbg_ctx_ok) == PHN_OK);
    CHECK("debug: phn_gc_set_debug(DEBUG_STATS) / get_debug", phn_gc_set_debug(PHN_GC_DEBUG_STATS) == PHN_OK &&
                                                               phn_gc_get_debug() == PHN_GC_DEBUG_STATS);
    /* known generation sizes: one object in generation 1, two in generation 0 */
    Node* k1 = new_node(T_node_dbg);
    phn_gc_collect(0);
    Node* k2 = new_node(T_node_dbg);
    Node* c = new_node(T_node_dbg);
    node_set(c, 0, c);
    PHN_DECREF(c);
    dbg_reset();
    int64_t g0 = gen_size(0), g1 = gen_size(1), g2 = gen_size(2), perm = phn_gc_get_freeze_count();
    int64_t r = phn_gc_collect(2);
    char re[256];
    CHECK_BODY("debug STATS: \"gc: collecting generation 2...\" first") {
        result = dbg_n > 0 && strcmp(dbg_line[0], "gc: collecting generation 2...") == 0 && dbg_ctx_ok == 1;
        if (!result) dbg_dump();
    }
    CHECK_BODY("debug STATS: \"gc: objects in each generation: 2 1 <gen2>\" (the sizes before the collection)") {
        char want[128];
        snprintf(want, sizeof want, "gc: objects in each generation: %lld %lld %lld", (long long)g0, (long long)g1, (long long)g2);
        int i = dbg_find("^gc: objects in each generation:", 0);
        result = g0 == 2 && g1 == 1 && i == 1 && strcmp(dbg_line[i], want) == 0;
        if (!result) {
            fprintf(stderr, "\n  expected \"%s\" as line 2", want);
            dbg_dump();
        }
    }
    CHECK_BODY("debug STATS: \"gc: objects in permanent generation: <freeze count>\" next") {
        char want[128];
        snprintf(want, sizeof want, "gc: objects in permanent generation: %lld", (long long)perm);
        result = dbg_n > 2 && strcmp(dbg_line[2], want) == 0;
        if (!result) dbg_dump();
    }
    CHECK_BODY("debug STATS: last line \"gc: done, 1 unreachable, 0 uncollectable, T.TTTTs elapsed\" (U = returned value)") {
        snprintf(re, sizeof re, "^gc: done, %lld unreachable, 0 uncollectable, [0-9]+\\.[0-9]{4}s elapsed$", (long long)r);
        result = r == 1 && dbg_n == 4 && regex_search(re, dbg_line[3]) == 1;
        if (!result) dbg_dump();
    }
    /* DEBUG_COLLECTABLE: one line per garbage object */
    phn_gc_set_debug(PHN_GC_DEBUG_COLLECTABLE);
    Node* a = new_node(T_node_dbg);
    Node* b = new_node(T_node_dbg);
    Node* s = new_node(T_node_dbg);
    node_set(a, 0, b);
    node_set(b, 0, a);
    node_set(s, 0, s);
    uintptr_t pa = U(a), pb = U(b), ps = U(s);
    PHN_DECREF(a);
    PHN_DECREF(b);
    PHN_DECREF(s);
    dbg_reset();
    r = phn_gc_collect(2);
    CHECK_BODY("debug COLLECTABLE: exactly 3 lines \"gc: collectable <Node 0x...>\", one per garbage object, no STATS lines") {
        int seen_a = 0, seen_b = 0, seen_s = 0, good = 0;
        for (int i = 0; i < dbg_n; i++) {
            if (regex_search("^gc: collectable <Node 0x[0-9a-fA-F]+>$", dbg_line[i]) != 1) continue;
            good++;
            uintptr_t p = line_address(dbg_line[i], "Node");
            seen_a += p == pa;
            seen_b += p == pb;
            seen_s += p == ps;
        }
        result = r == 3 && dbg_n == 3 && good == 3 && seen_a == 1 && seen_b == 1 && seen_s == 1;
        if (!result) {
            fprintf(stderr, "\n  collect %lld; a %lx b %lx s %lx", (long long)r, (unsigned long)pa, (unsigned long)pb, (unsigned long)ps);
            dbg_dump();
        }
    }
    /* both flags: STATS lines around the COLLECTABLE ones */
    phn_gc_set_debug(PHN_GC_DEBUG_STATS | PHN_GC_DEBUG_COLLECTABLE);
    Node* s2 = new_node(T_node_dbg);
    node_set(s2, 0, s2);
    PHN_DECREF(s2);
    dbg_reset();
    r = phn_gc_collect(0);
    CHECK_BODY("debug STATS|COLLECTABLE: collecting generation 0, counts, collectable line, then done, 1 unreachable") {
        int i0 = dbg_find("^gc: collecting generation 0\\.\\.\\.$", 0);
        int ic = dbg_find("^gc: collectable <Node 0x[0-9a-fA-F]+>$", 0);
        int id = dbg_find("^gc: done, 1 unreachable, 0 uncollectable, [0-9]+\\.[0-9]{4}s elapsed$", 0);
        result = r == 1 && dbg_n == 5 && i0 == 0 && ic == 3 && id == 4;
        if (!result) dbg_dump();
    }
    CHECK_BODY("debug: phn_gc_set_debug(0): a collection prints nothing") {
        phn_gc_set_debug(0);
        Node* s3 = new_node(T_node_dbg);
        node_set(s3, 0, s3);
        PHN_DECREF(s3);
        dbg_reset();
        result = phn_gc_collect(2) == 1 && dbg_n == 0;
    }
    phn_gc_set_debug_output(NULL, NULL);
    phn_gc_set_debug(0);
    dbg_reset();
    PHN_DECREF(k1);
    PHN_DECREF(k2);
}

/* ================================================================== §16.8 module-level API */

static void scenario_62(void) {
    gc_scenario_start();
    Node* x = new_node(T_node);
    phn_gc_collect(0);
    Node* y = new_node(T_node);
    int32_t c0[3];
    get_count3(c0);
    stats3 s0 = stats_all();
    static const int32_t bad_gens[] = {3, -1, 4, 100, INT32_MIN, INT32_MAX, -2};
    int msg_ok = 1;
    for (size_t i = 0; i < sizeof bad_gens / sizeof bad_gens[0]; i++) {
        char name[160];
        snprintf(name, sizeof name, "62: phn_gc_collect(%d) -> PHN_EINVAL, last error code PHN_EINVAL", bad_gens[i]);
        phn_clear_error();
        int64_t r = phn_gc_collect(bad_gens[i]);
        CHECK(name, r == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL);
        if (msg_ok && !msg_is("phn_gc_collect", "invalid generation")) {
            msg_ok = 0;
            fprintf(stderr, "  (for phn_gc_collect(%d))\n", bad_gens[i]);
        }
    }
    CHECK("62: the message of each is phn_gc.h's \"invalid generation\" (CPython's ValueError text)", msg_ok);
    CHECK_BODY("62: after the bad calls nothing changed: counts, stats, generations of X (1) and Y (0)") {
        int32_t c1[3];
        get_count3(c1);
        stats3 s1 = stats_all();
        result = c1[0] == c0[0] && c1[1] == c0[1] && c1[2] == c0[2] && stats_same(&s0, &s1) && gc_in_generation(x, 1) &&
                 gc_in_generation(y, 0);
        if (!result) print_count();
    }
    phn_clear_error();
    CHECK("62: phn_gc_get_objects(3) -> PHN_EINVAL \"generation parameter must be less than the number of available generations (3)\"",
          phn_gc_get_objects(3, NULL, 0) == PHN_EINVAL &&
              msg_is("phn_gc_get_objects", "generation parameter must be less than the number of available generations (3)"));
    phn_clear_error();
    CHECK("62: phn_gc_get_objects(100) -> the same message", phn_gc_get_objects(100, NULL, 0) == PHN_EINVAL &&
                                                               msg_is("phn_gc_get_objects", "generation parameter must be less than the number of available generations (3)"));
    phn_clear_error();
    CHECK("62: phn_gc_get_objects(-2) -> PHN_EINVAL \"generation parameter cannot be negative\"",
          phn_gc_get_objects(-2, NULL, 0) == PHN_EINVAL &&
              msg_is("phn_gc_get_objects", "generation parameter cannot be negative"));
    phn_clear_error();
    CHECK("62: phn_gc_get_objects(INT32_MIN) -> \"generation parameter cannot be negative\"",
          phn_gc_get_objects(INT32_MIN, NULL, 0) == PHN_EINVAL &&
              msg_is("phn_gc_get_objects", "generation parameter cannot be negative"));
    CHECK_BODY("62: phn_gc_get_objects(-1) == all objects == get_objects(0) + (1) + (2); contains X and Y") {
        int64_t all = phn_gc_get_objects(-1, NULL, 0);
        result = all == gen_size(0) + gen_size(1) + gen_size(2) && all >= 2 && gc_in_generation(x, -1) && gc_in_generation(y, -1);
    }
    phn_gc_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = (uint32_t)sizeof st;
    phn_clear_error();
    CHECK("62: phn_gc_get_stats(3, &s) -> PHN_EINVAL with a message", phn_gc_get_stats(3, &st) == PHN_EINVAL && phn_last_error_message()[0] != 0);
    phn_clear_error();
    CHECK("62: phn_gc_get_stats(-1, &s) -> PHN_EINVAL", phn_gc_get_stats(-1, &st) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL);
    phn_clear_error();
    CHECK("62: phn_gc_get_stats(0, NULL) -> PHN_EINVAL", phn_gc_get_stats(0, NULL) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL);
    phn_clear_error();
    CHECK("62: phn_gc_remove_callback of a callback never added -> PHN_EINVAL",
          phn_gc_remove_callback(gc_cb, &rec_ctx) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL);
    phn_clear_error();
    CHECK("62: phn_gc_get_count(NULL) -> PHN_EINVAL", phn_gc_get_count(NULL) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL);
    phn_clear_error();
    CHECK("62: phn_gc_get_threshold(NULL) -> PHN_EINVAL", phn_gc_get_threshold(NULL) == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL);
    CHECK_BODY("62: still nothing changed (counts and stats)") {
        int32_t c1[3];
        get_count3(c1);
        stats3 s1 = stats_all();
        result = c1[0] == c0[0] && c1[1] == c0[1] && c1[2] == c0[2] && stats_same(&s0, &s1);
    }
    PHN_DECREF(x);
    PHN_DECREF(y);
}

static void scenario_63(void) {
    gc_scenario_start();
    CHECK("63: after collect(2), get_objects(0) and get_objects(1) are empty", gen_size(0) == 0 && gen_size(1) == 0);
    Node* a = new_node(T_node);
    Node* b = new_node(L_node);
    Node* u = new_untracked(T_node);
    phn_object* out[8] = {0};
    int64_t n = phn_gc_get_objects(0, out, 8);
    CHECK("63: then get_objects(0) holds exactly the two objects tracked afterwards (not the untracked one)",
          n == 2 && contains_ptr(out, 2, a) && contains_ptr(out, 2, b) && !contains_ptr(out, 2, u));
    phn_object* one[1] = {0};
    n = phn_gc_get_objects(0, one, 1);
    CHECK("63: capacity 1: returns 2 (how many there are) and writes one of them",
          n == 2 && (U(one[0]) == U(a) || U(one[0]) == U(b)));
    Node* f = new_node(T_node);
    phn_gc_freeze();
    Node* c = new_node(T_node);
    CHECK("63: frozen objects are in no generation, not in get_objects(-1); a new one is",
          !gc_in_generation(f, -1) && !gc_in_generation(a, -1) && gc_in_generation(c, 0) && gen_size(-1) == 1);
    phn_gc_unfreeze();
    CHECK("63: after unfreeze they are in generation 2", gc_in_generation(f, 2) && gc_in_generation(a, 2) && gc_in_generation(b, 2));
    PHN_DECREF(a);
    PHN_DECREF(b);
    PHN_DECREF(c);
    PHN_DECREF(f);
    PHN_DECREF(u);
}

static void scenario_64(void) {
    gc_scenario_start();
    Node* x = new_node(T_node);
    Node* f = new_node(T_node);
    node_set(f, 0, x);
    phn_gc_freeze();
    Node* r1 = new_node(T_node);
    node_set(r1, 0, x);
    node_set(r1, 2, x);
    Node* r2 = new_node(L_node);
    node_set(r2, 1, x);
    Node* un = new_untracked(T_node);
    node_set(un, 0, x);
    Node* other = new_node(T_node);
    Node* y = new_node(T_node);
    node_set(r2, 3, y);
    node_set(other, 0, y);
    phn_object* objs[2] = {O(x), O(y)};
    phn_object* out[16] = {0};
    int64_t n = phn_gc_get_referrers(objs, 1, out, 16);
    CHECK_BODY("64: get_referrers(X) == {R1 (owns X twice, listed once), R2}: not U (untracked), not F (frozen), not X") {
        result = n == 2 && count_ptr(out, 2, r1) == 1 && count_ptr(out, 2, r2) == 1;
        if (!result) fprintf(stderr, "\n  %lld referrers\n", (long long)n);
    }
    n = phn_gc_get_referrers(objs, 2, out, 16);
    CHECK_BODY("64: get_referrers(X, Y) == {R1, R2 (owns both, listed once), Other}") {
        result = n == 3 && count_ptr(out, 3, r1) == 1 && count_ptr(out, 3, r2) == 1 && count_ptr(out, 3, other) == 1;
        if (!result) fprintf(stderr, "\n  %lld referrers\n", (long long)n);
    }
    CHECK("64: get_referrers with capacity 0 returns the count", phn_gc_get_referrers(objs, 1, NULL, 0) == 2);
    CHECK("64: get_referrers of an object nobody tracked references: 0", phn_gc_get_referrers((phn_object* const*)&r1, 1, NULL, 0) == 0);
    phn_gc_unfreeze();
    n = phn_gc_get_referrers(objs, 1, out, 16);
    CHECK("64: after unfreeze, F is a referrer too", n == 3 && contains_ptr(out, 3, f));
    PHN_DECREF(f);
    PHN_DECREF(r1);
    PHN_DECREF(r2);
    PHN_DECREF(un);
    PHN_DECREF(other);
    PHN_DECREF(y);
    PHN_DECREF(x);
}

static void scenario_65(void) {
    gc_scenario_start();
    Node* x = new_node(T_node);
    phn_object* leaf = phn_object_new(T_pleaf);
    Node* n = new_node(T_node);
    node_set(n, 0, x);
    node_set(n, 1, x);
    node_set(n, 3, leaf);
    phn_object* out[16] = {0};
    phn_object* args1[1] = {O(n)};
    int64_t k = phn_gc_get_referents(args1, 1, out, 16);
    CHECK("65: slots [X, X, NULL, Leaf] -> [X, X, Leaf] in slot order",
          k == 3 && U(out[0]) == U(x) && U(out[1]) == U(x) && U(out[2]) == U(leaf));
    phn_object* args2[1] = {leaf};
    CHECK("65: a Leaf (non-GC) argument contributes []", phn_gc_get_referents(args2, 1, out, 16) == 0);
    Node* h = new_node(T_holder);
    node_set(h, 0, x);
    phn_object* args3[1] = {O(h)};
    CHECK("65: a non-GC Holder (owning X) contributes [] too", phn_gc_get_referents(args3, 1, out, 16) == 0);
    Node* m = new_node(L_node);
    node_set(m, 2, leaf);
    node_set(m, 0, n);
    Node* un = new_untracked(T_node);
    node_set(un, 1, m);
    phn_object* args4[4] = {O(m), leaf, O(n), O(un)};
    memset(out, 0, sizeof out);
    k = phn_gc_get_referents(args4, 4, out, 16);
    CHECK("65: several arguments concatenate in argument order: [M: N, Leaf][Leaf: ][N: X, X, Leaf][U (untracked): M]",
          k == 6 && U(out[0]) == U(n) && U(out[1]) == U(leaf) && U(out[2]) == U(x) && U(out[3]) == U(x) &&
              U(out[4]) == U(leaf) && U(out[5]) == U(m));
    k = phn_gc_get_referents(args4, 4, out, 2);
    CHECK("65: capacity 2: returns 6, the first two written", k == 6 && U(out[0]) == U(n) && U(out[1]) == U(leaf));
    PHN_DECREF(un);
    PHN_DECREF(m);
    PHN_DECREF(h);
    PHN_DECREF(n);
    PHN_DECREF(leaf);
    PHN_DECREF(x);
}

static void scenario_66(void) {
    gc_scenario_start();
    Node* a = new_node(T_node);
    Node* b = new_node(T_node);
    node_set(a, 0, b);
    node_set(b, 0, a);
    int64_t aid = a->id, bid = b->id;
    PHN_DECREF(a);
    PHN_DECREF(b);
    Node* extra = new_node(T_node);   /* a third object, in generation 0 */
    int64_t before = phn_gc_get_freeze_count(), tracked = tracked_total();
    CHECK("66: freeze() returns PHN_OK", phn_gc_freeze() == PHN_OK);
    CHECK("66: get_freeze_count() == the number of tracked objects; get_count() == (0, 0, 0)",
          eq64("freeze count", phn_gc_get_freeze_count(), before + tracked) && count_is(0, 0, 0));
    CHECK("66: with a dropped 2-cycle frozen, collect() returns 0, nothing cleared",
          phn_gc_collect(2) == 0 && gcount[EV_CLEAR] == 0 && gcount[EV_DEALLOC] == 0);
    CHECK("66: the frozen cycle is in no generation but is_tracked is 1",
          !gc_in_generation(a, -1) && !gc_in_generation(b, -1) && phn_gc_is_tracked(O(a)) == 1 && phn_gc_is_tracked(O(b)) == 1);
    intptr_t ra = PHN_REFCNT(a);
    Node* c = new_node(T_node);
    Node* d = new_node(L_node);
    node_set(c, 0, d);
    node_set(d, 0, c);
    node_set(c, 1, a);
    PHN_DECREF(c);
    PHN_DECREF(d);
    int64_t r = phn_gc_collect(2);
    CHECK("66: a new cycle referencing a frozen object is collected normally (2); the frozen object's refcount is unchanged",
          eq64("collect()", r, 2) && PHN_REFCNT(a) == ra && glog_count(EV_DEALLOC, aid) == 0);
    CHECK("66: unfreeze() returns PHN_OK", phn_gc_unfreeze() == PHN_OK);
    CHECK("66: the old cycle is in generation 2; get_freeze_count() == 0",
          gc_in_generation(a, 2) && gc_in_generation(b, 2) && phn_gc_get_freeze_count() == 0);
    r = phn_gc_collect(2);
    CHECK("66: then collect() returns 2 and frees it",
          eq64("collect()", r, 2) && glog_count(EV_DEALLOC, aid) == 1 && glog_count(EV_DEALLOC, bid) == 1);
    PHN_DECREF(extra);
}

static void scenario_67(void) {
    gc_scenario_start();
    static cbctx c1 = {1, 0, 0}, c2 = {2, 0, 0}, cf = {3, 1, 0}, cn = {4, 0, 1};
    cb_reset();
    CHECK("67: add two callbacks: PHN_OK", phn_gc_add_callback(gc_cb, &c1) == PHN_OK && phn_gc_add_callback(gc_cb, &c2) == PHN_OK);
    Node* a = new_node(T_node);
    Node* b = new_node(L_node);
    node_set(a, 0, b);
    node_set(b, 0, a);
    PHN_DECREF(a);
    PHN_DECREF(b);
    Node* keep = new_node(T_node);
    int64_t examined = tracked_total();
    int64_t coll2 = gc_stat(2, 0), collected2 = gc_stat(2, 1);
    int64_t r = phn_gc_collect(2);
    CHECK_BODY("67: collect(2) calls c1(start), c2(start), c1(stop), c2(stop)") {
        result = ncbev == 4 && cbevs[0].tag == 1 && cbevs[0].phase == PHN_GC_PHASE_START && cbevs[1].tag == 2 &&
                 cbevs[1].phase == PHN_GC_PHASE_START && cbevs[2].tag == 1 && cbevs[2].phase == PHN_GC_PHASE_STOP &&
                 cbevs[3].tag == 2 && cbevs[3].phase == PHN_GC_PHASE_STOP;
        if (!result) {
            fprintf(stderr, "\n  %d calls:", ncbev);
            for (int i = 0; i < ncbev && i < 12; i++) fprintf(stderr, " (c%d %d)", cbevs[i].tag, cbevs[i].phase);
        }
    }
    CHECK_BODY("67: start info: struct_size, generation 2, collected 0, uncollectable 0, candidates 0, duration 0") {
        result = ncbev >= 2;
        for (int i = 0; i < 2 && result; i++)
            result = cbevs[i].info.struct_size == sizeof(phn_gc_info) && cbevs[i].info.generation == 2 &&
                     cbevs[i].info.collected == 0 && cbevs[i].info.uncollectable == 0 && cbevs[i].info.candidates == 0 &&
                     cbevs[i].info.duration == 0.0;
    }
    CHECK_BODY("67: stop info matches the return value: generation 2, collected 2, uncollectable 0, duration >= 0") {
        result = ncbev == 4 && r == 2;
        for (int i = 2; i < 4 && result; i++)
            result = cbevs[i].info.struct_size == sizeof(phn_gc_info) && cbevs[i].info.generation == 2 &&
                     cbevs[i].info.collected + cbevs[i].info.uncollectable == r && cbevs[i].info.collected == 2 &&
                     cbevs[i].info.uncollectable == 0 && cbevs[i].info.duration >= 0.0;
    }
    CHECK_BODY("67: stop info candidates == the objects examined (every tracked object for collect(2))") {
        result = ncbev == 4 && cbevs[2].info.candidates == examined && cbevs[3].info.candidates == examined;
        if (!result && ncbev == 4)
            fprintf(stderr, "\n  candidates %lld, tracked objects %lld\n", (long long)cbevs[2].info.candidates, (long long)examined);
    }
    CHECK_BODY("67: get_stats() read inside \"stop\" already includes this collection (not inside \"start\")") {
        result = ncbev == 4 && cbevs[0].stats_coll[2] == coll2 && cbevs[2].stats_coll[2] == coll2 + 1 &&
                 cbevs[3].stats_collected2 == collected2 + 2;
    }
    /* a failing callback between c1 and c2; one that collects from inside */
    phn_gc_add_callback(gc_cb, &cf);
    phn_gc_remove_callback(gc_cb, &c2);
    phn_gc_add_callback(gc_cb, &c2);
    phn_gc_add_callback(gc_cb, &cn);
    err_calls = 0;
    err_code = 0;
    phn_set_error_handler(on_error, NULL);
    cb_reset();
    Node* s = new_node(T_node);
    node_set(s, 0, s);
    PHN_DECREF(s);
    r = phn_gc_collect(1);
    phn_set_error_handler(NULL, NULL);
    CHECK_BODY("67: order c1, cf (fails), c2, cn: every callback still runs at start and stop") {
        static const int want[8] = {1, 3, 2, 4, 1, 3, 2, 4};
        result = ncbev == 8;
        for (int i = 0; i < 8 && result; i++)
            result = cbevs[i].tag == want[i] && cbevs[i].phase == (i < 4 ? PHN_GC_PHASE_START : PHN_GC_PHASE_STOP) &&
                     cbevs[i].info.generation == 1;
        if (!result) {
            fprintf(stderr, "\n  %d calls:", ncbev);
            for (int i = 0; i < ncbev && i < 16; i++) fprintf(stderr, " (c%d %d g%d)", cbevs[i].tag, cbevs[i].phase, cbevs[i].info.generation);
        }
    }
    CHECK_BODY("67: the failing callback is reported through the error handler, once per failure (2)") {
        result = err_calls == 2;
#ifdef PHN_ECALLBACK
        result = result && err_code == PHN_ECALLBACK;
#endif
        if (!result) fprintf(stderr, "\n  %d error handler calls, last code %d \"%s\"\n", err_calls, err_code, err_msg);
    }
    CHECK("67: the collection completed: collect(1) returns 1", eq64("collect(1)", r, 1));
    CHECK_BODY("67: phn_gc_collect(2) inside a callback returns 0 and starts no nested collection") {
        result = ncbev == 8 && cbevs[3].nested == 0 && cbevs[7].nested == 0;
        if (!result && ncbev == 8) fprintf(stderr, "\n  nested: %lld / %lld\n", (long long)cbevs[3].nested, (long long)cbevs[7].nested);
    }
    phn_gc_remove_callback(gc_cb, &cf);
    phn_gc_remove_callback(gc_cb, &cn);
    phn_gc_remove_callback(gc_cb, &c2);
    CHECK("67: the same pair added twice is called twice", phn_gc_add_callback(gc_cb, &c1) == PHN_OK);
    cb_reset();
    phn_gc_collect(0);
    int twice = ncbev == 4 && cbevs[0].tag == 1 && cbevs[1].tag == 1;
    CHECK("67: ... (4 calls for one collection)", twice);
    CHECK("67: removing it removes one registration", phn_gc_remove_callback(gc_cb, &c1) == PHN_OK);
    cb_reset();
    phn_gc_collect(0);
    CHECK("67: ... (2 calls for one collection)", ncbev == 2);
    CHECK("67: the last registration removed; removing again -> PHN_EINVAL",
          phn_gc_remove_callback(gc_cb, &c1) == PHN_OK && phn_gc_remove_callback(gc_cb, &c1) == PHN_EINVAL);
    cb_reset();
    phn_gc_collect(2);
    CHECK("67: no callback is left", ncbev == 0);
    PHN_DECREF(keep);
}

static void scenario_68(void) {
    gc_scenario_start();
    phn_gc_enable();
    CHECK("68: starting enabled: phn_gc_disable() returns 1, then 0", phn_gc_disable() == 1 && phn_gc_disable() == 0);
    CHECK("68: phn_gc_is_enabled() == 0", phn_gc_is_enabled() == 0);
    Node* s = new_node(T_node);
    int64_t sid = s->id;
    node_set(s, 0, s);
    PHN_DECREF(s);
    stats3 st0 = stats_all();
    int64_t r = phn_gc_collect_if_enabled();
    stats3 st1 = stats_all();
    CHECK("68: phn_gc_collect_if_enabled() while disabled returns 0 without collecting (no stats change, no dealloc)",
          r == 0 && stats_same(&st0, &st1) && glog_count(EV_DEALLOC, sid) == 0);
    r = phn_gc_collect(2);
    CHECK("68: phn_gc_collect(2) while disabled collects (1)", eq64("collect(2)", r, 1) && glog_count(EV_DEALLOC, sid) == 1);
    CHECK("68: phn_gc_enable() returns 0, then 1", phn_gc_enable() == 0 && phn_gc_enable() == 1);
    CHECK("68: phn_gc_is_enabled() == 1", phn_gc_is_enabled() == 1);
    Node* s2 = new_node(T_node);
    int64_t s2id = s2->id;
    node_set(s2, 0, s2);
    PHN_DECREF(s2);
    st0 = stats_all();
    r = phn_gc_collect_if_enabled();
    st1 = stats_all();
    CHECK("68: phn_gc_collect_if_enabled() while enabled: a full collection (1; stats[2] +1 collection, +1 collected)",
          eq64("collect_if_enabled", r, 1) && stats_delta_only(&st0, &st1, 2, 1, 1, 0) && glog_count(EV_DEALLOC, s2id) == 1);
    phn_gc_disable();
}

typedef struct visit_ctx {
    int64_t calls;
    int64_t stop_after;     /* return 0 on this call (1-based), 0: never */
    int enabled_inside;     /* AND of phn_gc_is_enabled() == 0 inside */
    const phn_object* watch;
    intptr_t watch_refcnt;  /* refcount seen inside for watch */
    const phn_object* frozen;
    int saw_frozen, saw_watch;
    int create;             /* create this many Nodes on the first call */
    Node* created[8];
} visit_ctx;

static int32_t PHN_CALL visit_fn(phn_object* op, void* arg) {
    visit_ctx* v = (visit_ctx*)arg;
    v->calls++;
    if (phn_gc_is_enabled() != 0) v->enabled_inside = 0;
    if (op == v->watch) {
        v->watch_refcnt = PHN_REFCNT(op);
        v->saw_watch++;
    }
    if (op == v->frozen) v->saw_frozen++;
    if (v->calls == 1)
        for (int i = 0; i < v->create && i < 8; i++) v->created[i] = new_node(T_node);
    return v->stop_after && v->calls >= v->stop_after ? 0 : 1;
}

static void scenario_69(void) {
    gc_scenario_start();
    Node* f = new_node(T_node);
    phn_gc_freeze();
    Node* x = new_node(T_node);
    Node* y = new_node(L_node);
    int64_t expected = tracked_total() + phn_gc_get_freeze_count();
    phn_gc_set_threshold(2, 10, 10);
    phn_gc_enable();
    cb_reset();
    phn_gc_add_callback(gc_cb, &rec_ctx);
    visit_ctx v;
    memset(&v, 0, sizeof v);
    v.enabled_inside = 1;
    v.watch = O(x);
    v.frozen = O(f);
    v.create = 5;
    intptr_t rx = PHN_REFCNT(x);
    int32_t rc = phn_gc_visit_objects(visit_fn, &v);
    CHECK("69: phn_gc_visit_objects returns PHN_OK", rc == PHN_OK);
    CHECK_BODY("69: the visitor sees every tracked object, the frozen one included") {
        result = v.saw_frozen == 1 && v.saw_watch == 1 && v.calls >= expected && v.calls <= expected + v.create;
        if (!result)
            fprintf(stderr, "\n  %lld calls, %lld expected (+ up to %d created); frozen seen %d, X seen %d\n", (long long)v.calls,
                    (long long)expected, v.create, v.saw_frozen, v.saw_watch);
    }
    CHECK("69: it holds a reference around each call (X's count is one more inside)", v.watch_refcnt == rx + 1 && PHN_REFCNT(x) == rx);
    CHECK("69: automatic collection is off during the walk (is_enabled 0 inside; 5 new objects over threshold 2 start none)",
          v.enabled_inside == 1 && ncbev == 0);
    CHECK("69: and restored afterwards", phn_gc_is_enabled() == 1);
    phn_gc_disable();
    phn_gc_remove_callback(gc_cb, &rec_ctx);
    restore_thresholds();
    for (int i = 0; i < v.create; i++) PHN_XDECREF(v.created[i]);
    visit_ctx w;
    memset(&w, 0, sizeof w);
    w.enabled_inside = 1;
    w.stop_after = 1;
    phn_gc_visit_objects(visit_fn, &w);
    CHECK("69: returning 0 stops at once (1 call)", w.calls == 1);
    memset(&w, 0, sizeof w);
    w.stop_after = 2;
    phn_gc_visit_objects(visit_fn, &w);
    CHECK("69: returning 0 on the 2nd call stops there (2 calls)", w.calls == 2);
    phn_gc_unfreeze();
    PHN_DECREF(f);
    PHN_DECREF(x);
    PHN_DECREF(y);
}

static void scenario_70(void) {
    gc_scenario_start();
    phn_object* leaf = phn_object_new(T_pleaf);
    Node* n = new_node(T_node);
    CHECK("70: is_finalized is 0 for a Leaf and for a never-finalized Node",
          phn_gc_is_finalized(leaf) == 0 && phn_gc_is_finalized(O(n)) == 0);
    Node* g = new_node(T_fin);
    g->action = ACT_RESURRECT;
    node_set(g, 0, g);
    PHN_DECREF(g);
    CHECK("70: FNode(RESURRECT) self-cycle not yet collected: is_finalized 0", phn_gc_is_finalized(O(g)) == 0);
    int64_t r = phn_gc_collect(2);
    CHECK("70: finalized by the collector and resurrected: collect() 0, is_finalized 1, still tracked",
          r == 0 && glog_count(EV_FINALIZE, g->id) == 1 && phn_gc_is_finalized(O(g)) == 1 && phn_gc_is_tracked(O(g)) == 1 &&
              groot_holds(O(g)));
    Node* d = new_node(T_fin);
    d->action = ACT_RESURRECT;
    int64_t did = d->id;
    PHN_DECREF(d);
    CHECK("70: FNode(RESURRECT) dropped by reference count: finalizer ran, resurrected, is_finalized 1",
          glog_count(EV_FINALIZE, did) == 1 && groot_holds(O(d)) && phn_gc_is_finalized(O(d)) == 1 && phn_gc_is_tracked(O(d)) == 1);
    Node* e = new_node(T_fin);
    CHECK("70: phn_object_call_finalizer on a Node: finalizer once, is_finalized 1",
          phn_object_call_finalizer(O(e)) == PHN_OK && glog_count(EV_FINALIZE, e->id) == 1 && phn_gc_is_finalized(O(e)) == 1);
    Node* ngf = new_node(T_ngf);
    ngf->action = ACT_RESURRECT_N;
    ngf->budget = 1;
    int64_t nid = ngf->id;
    PHN_DECREF(ngf);
    CHECK("70: a non-GC object whose finalizer ran (and resurrected it): is_finalized 0",
          glog_count(EV_FINALIZE, nid) == 1 && groot_holds(O(ngf)) && phn_gc_is_finalized(O(ngf)) == 0);
    groot_clear();   /* frees g (collectable again later), d, ngf (its 2nd finalizer does not resurrect) */
    PHN_DECREF(e);
    PHN_DECREF(n);
    PHN_DECREF(leaf);
    phn_gc_collect(2);
}

static void scenario_71(void) {
    gc_scenario_start();
    static cbctx cs = {7, 0, 0};
    cb_reset();
    phn_gc_add_callback(gc_cb, &cs);
    dbg_reset();
    phn_gc_set_debug_output(on_dbg, &dbg_ctx_ok);
    int64_t r = phn_gc_shutdown();
    CHECK("71: phn_gc_shutdown() with gc.garbage empty: returns 0, no report, no callback", r == 0 && dbg_n == 0 && ncbev == 0);
    Node* d = new_node(T_del);
    node_set(d, 0, d);
    uintptr_t pd = U(d);
    PHN_DECREF(d);
    r = phn_gc_collect(2);
    cb_reset();
    CHECK("71: a DNode self-cycle: collect() returns 1 and gc.garbage holds it", r == 1 && phn_gc_garbage_count() == 1);
    dbg_reset();
    int64_t coll2 = gc_stat(2, 0);
    r = phn_gc_shutdown();
    CHECK_BODY("71: phn_gc_shutdown(): \"gc: 1 uncollectable objects at shutdown; use gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them\"") {
        result = r == 1 && dbg_n == 1 &&
                 strcmp(dbg_line[0], "gc: 1 uncollectable objects at shutdown; use gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them") == 0;
        if (!result) {
            fprintf(stderr, "\n  returned %lld", (long long)r);
            dbg_dump();
        }
    }
    CHECK("71: the shutdown collection ran (stats[2] +1) without calling the gc callbacks",
          ncbev == 0 && eq64("stats[2].collections delta", gc_stat(2, 0) - coll2, 1));
    phn_gc_set_debug(PHN_GC_DEBUG_UNCOLLECTABLE);
    dbg_reset();
    r = phn_gc_shutdown();
    CHECK_BODY("71: with DEBUG_UNCOLLECTABLE: \"gc: 1 uncollectable objects at shutdown\" (no hint), then \"gc: uncollectable <DNode 0x...>\"") {
        result = r == 1 && dbg_n == 2 && strcmp(dbg_line[0], "gc: 1 uncollectable objects at shutdown") == 0 &&
                 regex_search("^gc: uncollectable <DNode 0x[0-9a-fA-F]+>$", dbg_line[1]) == 1 &&
                 line_address(dbg_line[1], "DNode") == pd;
        if (!result) dbg_dump();
    }
    phn_gc_set_debug(PHN_GC_DEBUG_SAVEALL);
    dbg_reset();
    r = phn_gc_shutdown();
    CHECK_BODY("71: with DEBUG_SAVEALL: no report") {
        result = dbg_count("at shutdown") == 0 && dbg_n == 0;
        if (!result) dbg_dump();
    }
    phn_gc_set_debug(0);
    CHECK_BODY("71: the collector stays usable after phn_gc_shutdown (a dropped self-cycle is collected)") {
        Node* s = new_node(T_node);
        node_set(s, 0, s);
        PHN_DECREF(s);
        result = phn_gc_collect(2) == 1;
    }
    phn_gc_set_debug_output(NULL, NULL);
    phn_gc_remove_callback(gc_cb, &cs);
    /* break D's cycle by hand, then release gc.garbage */
    phn_object* g0 = NULL;
    if (phn_gc_garbage_get(0, &g0) == PHN_OK && g0 != NULL) PHN_CLEAR(((Node*)g0)->slot[0]);
    phn_gc_garbage_clear();
    CHECK("71: D freed once gc.garbage is emptied", gcount[EV_DEALLOC] >= 1 && phn_gc_garbage_count() == 0);
    dbg_reset();
}

static void scenario_72(void) {
    gc_scenario_start();
    phn_object* lf[16];
    for (int i = 0; i < 16; i++) lf[i] = phn_object_new(T_pleaf);
    /* a: only Leafs */
    Node* a = new_node(L_atomic);
    for (int i = 0; i < 4; i++) node_set(a, i, lf[i]);
    /* b: a tracked Node */
    Node* nd = new_node(T_node);
    Node* b = new_node(L_atomic);
    node_set(b, 0, nd);
    for (int i = 1; i < 4; i++) node_set(b, i, lf[4 + i]);
    /* c: an untracked Node (not of an UNTRACK_ATOMIC type) */
    Node* un = new_untracked(T_node);
    Node* c = new_node(L_atomic);
    node_set(c, 0, un);
    for (int i = 1; i < 4; i++) node_set(c, i, lf[8 + i]);
    /* the flag matters: an LNode with only Leafs */
    Node* p = new_node(L_node);
    for (int i = 0; i < 4; i++) node_set(p, i, lf[12 + i]);
    /* nested: outer -> inner -> Leafs, inner held only by outer */
    Node* inner = new_node(L_atomic);
    for (int i = 0; i < 4; i++) node_set(inner, i, lf[i]);
    Node* outer = new_node(L_atomic);
    node_set(outer, 0, inner);
    for (int i = 1; i < 4; i++) node_set(outer, i, lf[i]);
    PHN_DECREF(inner);
    CHECK("72: every new container is tracked", phn_gc_is_tracked(O(a)) == 1 && phn_gc_is_tracked(O(b)) == 1 &&
                                                   phn_gc_is_tracked(O(c)) == 1 && phn_gc_is_tracked(O(inner)) == 1 &&
                                                   phn_gc_is_tracked(O(outer)) == 1);
    phn_gc_collect(2);
    CHECK("72: after one collection: the all-Leaf ATuple is untracked", phn_gc_is_tracked(O(a)) == 0 && !gc_in_generation(a, -1));
    CHECK("72: an ATuple holding a tracked Node stays tracked", phn_gc_is_tracked(O(b)) == 1);
    CHECK("72: an ATuple holding an untracked Node (not an UNTRACK_ATOMIC type) stays tracked", phn_gc_is_tracked(O(c)) == 1);
    CHECK("72: an LNode (no flag) holding only Leafs stays tracked", phn_gc_is_tracked(O(p)) == 1);
    CHECK("72: nested: the inner one is untracked by the first collection, the outer one not yet",
          phn_gc_is_tracked(O(inner)) == 0 && phn_gc_is_tracked(O(outer)) == 1);
    phn_gc_collect(2);
    CHECK("72: the outer one by the second", phn_gc_is_tracked(O(outer)) == 0 && phn_gc_is_tracked(O(b)) == 1 &&
                                               phn_gc_is_tracked(O(c)) == 1 && phn_gc_is_tracked(O(p)) == 1);
    CHECK_BODY("72: an untracked ATuple still owns its references: dropping it releases them") {
        intptr_t before = PHN_REFCNT(lf[0]);
        PHN_DECREF(outer);   /* frees outer and inner: lf[0] loses inner's reference */
        result = PHN_REFCNT(lf[0]) == before - 1;
    }
    PHN_DECREF(a);
    PHN_DECREF(b);
    PHN_DECREF(c);
    PHN_DECREF(p);
    PHN_DECREF(nd);
    PHN_DECREF(un);
    for (int i = 0; i < 16; i++) PHN_DECREF(lf[i]);
}

/* ================================================================== main */

int main(int argc, char** argv) {
    alarm(120);
    if (argc > 1 && strcmp(argv[1], "--bad-traverse") == 0) return bad_traverse_child();

    CHECK("the collector starts enabled", phn_gc_is_enabled() == 1);
    CHECK_BODY("default thresholds (2000, 10, 10)") {
        int32_t t[3] = {-1, -1, -1};
        result = phn_gc_get_threshold(t) == PHN_OK && t[0] == 2000 && t[1] == 10 && t[2] == 10;
        if (!result) fprintf(stderr, "\n  (%d, %d, %d)\n", t[0], t[1], t[2]);
        if (t[0] > 0) memcpy(default_threshold, t, sizeof t);
    }
    CHECK("debug flags start at 0", phn_gc_get_debug() == 0);
    make_types();
    CHECK("all fixture types were created", L_wleaf && L_noclear && L_atomic && T_node && L_node);
    if (!(L_wleaf && L_noclear && L_atomic)) return print_test_summary();

    double t0 = now_s();
    fprintf(stderr, "\n[§16.3 automatic collection and generations]\n");
    scenario_14();
    scenario_15();
    scenario_16();
    scenario_17();
    scenario_18();
    scenario_19();
    scenario_20();
    scenario_21();
    fprintf(stderr, "\n[§16.4 cycle detection]\n");
    section_16_4();
    fprintf(stderr, "\n[debug output]\n");
    debug_output();
    fprintf(stderr, "\n[§16.8 module-level API]\n");
    scenario_62();
    scenario_63();
    scenario_64();
    scenario_65();
    scenario_66();
    scenario_67();
    scenario_68();
    scenario_69();
    scenario_70();
    scenario_71();
    scenario_72();
    gc_scenario_start();
    CHECK("at the end: nothing left in gc.garbage, no frozen object, collect() returns 0",
          phn_gc_garbage_count() == 0 && phn_gc_get_freeze_count() == 0 && phn_gc_collect(2) == 0);
    fprintf(stderr, "\n(%.2f s)", now_s() - t0);
    return print_test_summary();
}
