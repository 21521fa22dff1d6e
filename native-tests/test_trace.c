/* test_trace.c - tracemalloc (include/pyheapnative/phn_trace.h): spec-allocator.md §4 and
 * §7 items 40-50, reliability.md §8 goal 8 (exact tracing).
 *
 *   40  start(0) / start(65536): PHN_EINVAL, "the number of frames must be in range [1; 65535]"
 *   41  a second start keeps the limit (and the limit survives stop)
 *   42  track/untrack: -2 when stopped, track replaces the size, untrack of unknown is 0
 *   43  a block tracked in domain 5 appears with domain 5 and is selected by a domain filter
 *   44  one phn_obj_malloc(100000) is traced once (+100000, not 200000)
 *   45  get_traced_memory: (0, 0) when stopped; peak >= current; peak survives frees;
 *       reset_peak; clear_traces
 *   46  take_snapshot while stopped: PHN_ESTATE and CPython's message
 *   47  statistics: cumulative with PHN_KEY_TRACEBACK, unknown key
 *   48  PHN_KEY_FILENAME reports lineno 0; sort orders of statistics and compare_to;
 *       vanished groups
 *   49  frames most recent first, total_nframe, no frame -> ("<unknown>", 0)
 *   50  under the debug hooks (child): the dump of a damaged traced block prints its
 *       traceback; not tracing: "Enable tracemalloc to get ..."; tracing but the block
 *       untraced: neither
 *   goal 8: random malloc/calloc/realloc/free over the three domains against a model,
 *       checked after every operation (current and peak); the tracer's own memory is never
 *       traced; several threads at once
 *   frames: native return addresses (this executable, offsets), limit 1 and 5, a frame
 *       provider, its allocations untraced, its names copied
 *   filters (fnmatch *, ?, [...], [!...], lineno, all_frames, domain, .pyc), dump/load,
 *   PYHEAPNATIVE_TRACEMALLOC (child), tracing over the debug hooks (child), stop restores
 *   the allocators, bad handles.
 *
 * Every test leaves tracing stopped and the frame provider unset.
 */
#include "testhelper.h"
#include "phn_test_common.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>

static volatile size_t v_size_max = SIZE_MAX;
static volatile size_t v_half = (SIZE_MAX / 2) + 1;
static volatile size_t v_two = 2;

static const char* const RANGE_MSG = "the number of frames must be in range [1; 65535]";
static const char* const SNAPSHOT_MSG =
    "the tracemalloc module must be tracing memory allocations to take a snapshot";
static const char* const CUMULATIVE_MSG = "cumulative mode cannot by used with key type 'traceback'";

/* ------------------------------------------------------------------ small helpers */

static size_t traced_current(void) {
    size_t c = (size_t)-1;
    phn_tracemalloc_get_traced_memory(&c, NULL);
    return c;
}
static size_t traced_peak(void) {
    size_t p = (size_t)-1;
    phn_tracemalloc_get_traced_memory(NULL, &p);
    return p;
}
static int msg_is(const char* want) {
    const char* m = phn_last_error_message();
    if (m && strcmp(m, want) == 0) return 1;
    fprintf(stderr, "\n  last error message: \"%s\", expected \"%s\"\n", m ? m : "(null)", want);
    return 0;
}
static int msg_starts(const char* prefix) {
    const char* m = phn_last_error_message();
    if (m && strncmp(m, prefix, strlen(prefix)) == 0) return 1;
    fprintf(stderr, "\n  last error message: \"%s\", expected it to start with \"%s\"\n", m ? m : "(null)", prefix);
    return 0;
}

/* (Re)start tracing from nothing: stop, start(n), no trace. */
static int fresh_start(int32_t nframe) {
    phn_tracemalloc_stop();
    if (phn_tracemalloc_start(nframe) != PHN_OK) {
        fprintf(stderr, "\n  phn_tracemalloc_start(%d) failed: %s\n", nframe, phn_last_error_message());
        return 0;
    }
    return traced_current() == 0 && traced_peak() == 0;
}

static phn_snapshot* take(void) {
    phn_snapshot* s = NULL;
    if (phn_tracemalloc_take_snapshot(&s) != PHN_OK) {
        fprintf(stderr, "\n  phn_tracemalloc_take_snapshot failed: %s\n", phn_last_error_message());
        return NULL;
    }
    return s;
}

static int get_trace(const phn_snapshot* s, int64_t i, phn_trace* t) {
    memset(t, 0, sizeof *t);
    return phn_snapshot_get_trace(s, i, t) == PHN_OK;
}

/* Sum of the sizes (and count) of a snapshot's traces, optionally of one domain only. */
static uint64_t snapshot_sum(const phn_snapshot* s, int64_t domain, int64_t* count) {
    uint64_t sum = 0;
    int64_t n = phn_snapshot_trace_count(s), k = 0;
    for (int64_t i = 0; i < n; i++) {
        phn_trace t;
        if (!get_trace(s, i, &t)) return UINT64_MAX;
        if (domain >= 0 && t.domain != (uint32_t)domain) continue;
        sum += t.size;
        k++;
    }
    if (count) *count = k;
    return sum;
}

/* The first trace of a given domain and size; 1 if found. */
static int find_trace(const phn_snapshot* s, uint32_t domain, uint64_t size, phn_trace* out) {
    int64_t n = phn_snapshot_trace_count(s);
    for (int64_t i = 0; i < n; i++) {
        phn_trace t;
        if (get_trace(s, i, &t) && t.domain == domain && t.size == size) {
            *out = t;
            return 1;
        }
    }
    return 0;
}

static int count_traces_of_size(const phn_snapshot* s, uint64_t size) {
    int k = 0;
    int64_t n = phn_snapshot_trace_count(s);
    for (int64_t i = 0; i < n; i++) {
        phn_trace t;
        if (get_trace(s, i, &t) && t.size == size) k++;
    }
    return k;
}

/* A growable string. */
typedef struct sbuf { char* s; size_t len, cap; } sbuf;
static void sb_printf(sbuf* b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf* b, const char* fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    buf_append(&b->s, &b->len, &b->cap, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
static char* sb_take(sbuf* b) {
    if (!b->s) buf_append(&b->s, &b->len, &b->cap, "", 0);
    return b->s;
}

static void frames_text(sbuf* b, const phn_frame* f, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        sb_printf(b, "%s%s:%u", i ? "<" : "", f[i].filename ? f[i].filename : "(null)", f[i].lineno);
}

/* "file:line size=S count=C" lines (plus " diff=D/E" for compare_to), in list order; NULL
 * (and the error printed) when the call fails. */
static char* stats_text(const phn_snapshot* s, const phn_snapshot* old, int32_t key, int32_t cumulative) {
    phn_statistics* st = NULL;
    int32_t rc = old ? phn_snapshot_compare_to(s, old, key, cumulative, &st) : phn_snapshot_statistics(s, key, cumulative, &st);
    if (rc != PHN_OK) {
        fprintf(stderr, "\n  statistics(%d, %d) failed: %d %s\n", key, cumulative, rc, phn_last_error_message());
        return NULL;
    }
    sbuf b = {0};
    int64_t n = phn_statistics_count(st);
    for (int64_t i = 0; i < n; i++) {
        phn_statistic x;
        memset(&x, 0, sizeof x);
        if (phn_statistics_get(st, i, &x) != PHN_OK) {
            sb_printf(&b, "<get %lld failed>\n", (long long)i);
            continue;
        }
        frames_text(&b, x.frames, x.nframe);
        sb_printf(&b, " size=%llu count=%llu", (unsigned long long)x.size, (unsigned long long)x.count);
        if (old) sb_printf(&b, " diff=%+lld/%+lld", (long long)x.size_diff, (long long)x.count_diff);
        else if (x.size_diff || x.count_diff) sb_printf(&b, " NONZERO-DIFF");
        sb_printf(&b, "\n");
    }
    phn_statistics_free(st);
    return sb_take(&b);
}

static int text_is(char* got, const char* want) {
    int same = got && strcmp(got, want) == 0;
    if (!same && got) {
        fprintf(stderr, "\n  got:\n");
        echo_prefixed("got ", got);
        fprintf(stderr, "  expected:\n");
        echo_prefixed("want", want);
    }
    free(got);
    return same;
}

/* A snapshot's traces as sorted text lines "domain size nframe/total frames". */
static int cmp_str(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }
static char* traces_text(const phn_snapshot* s) {
    int64_t n = phn_snapshot_trace_count(s);
    if (n < 0) return NULL;
    char** lines = (char**)calloc((size_t)n + 1, sizeof(char*));
    for (int64_t i = 0; i < n; i++) {
        phn_trace t;
        sbuf b = {0};
        if (get_trace(s, i, &t)) {
            sb_printf(&b, "%u %llu %u/%u ", t.domain, (unsigned long long)t.size, t.nframe, t.total_nframe);
            frames_text(&b, t.frames, t.nframe);
        } else {
            sb_printf(&b, "<get failed>");
        }
        lines[i] = sb_take(&b);
    }
    qsort(lines, (size_t)n, sizeof(char*), cmp_str);
    sbuf all = {0};
    for (int64_t i = 0; i < n; i++) {
        sb_printf(&all, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return sb_take(&all);
}

/* ------------------------------------------------------------------ a frame provider */

#define PROV_MAX 4
typedef struct provider_state {
    int n;                       /* frames to report */
    const char* file[PROV_MAX];
    uint32_t line[PROV_MAX];
    int32_t total;               /* *total; 0: n */
    long calls;
    int32_t last_max;
    int allocate;                /* allocate 777 bytes through phn_mem_malloc on every call */
    void* blocks[512];
    int nblocks;
    int query;                   /* call the library's counters from inside */
    long queried;
    int stack_names;             /* frames[0]'s name lives in this function's stack frame */
    int seq;
} provider_state;

static provider_state P;

static int32_t PHN_CALL test_provider(void* ctx, phn_frame* frames, int32_t max, int32_t* total) {
    provider_state* p = (provider_state*)ctx;
    static char local[64];   /* rewritten by the next call: the library must copy the name */
    p->calls++;
    p->last_max = max;
    if (p->allocate && p->nblocks < 512) p->blocks[p->nblocks++] = phn_mem_malloc(777);
    if (p->query) {
        size_t c = 0, k = 0;
        if (phn_tracemalloc_get_traced_memory(&c, &k) == PHN_OK && phn_tracemalloc_is_tracing() == 1) p->queried++;
    }
    int n = p->n < max ? p->n : max;
    for (int i = 0; i < n; i++) {
        frames[i].filename = p->file[i];
        frames[i].lineno = p->line[i];
        frames[i].reserved = 0;
    }
    if (p->stack_names && n > 0) {
        snprintf(local, sizeof local, "stack_%03d.py", p->seq++);
        frames[0].filename = (const char*)U(local);   /* valid until the next provider call */
    }
    *total = p->total ? p->total : p->n;
    return n;
}

static void prov_reset(void) {
    for (int i = 0; i < P.nblocks; i++) phn_mem_free(P.blocks[i]);
    memset(&P, 0, sizeof P);
}
static void prov_frames(int n, const char* f0, uint32_t l0, const char* f1, uint32_t l1, const char* f2, uint32_t l2) {
    P.n = n;
    P.file[0] = f0; P.line[0] = l0;
    P.file[1] = f1; P.line[1] = l1;
    P.file[2] = f2; P.line[2] = l2;
    P.total = 0;
}
static void prov1(const char* f, uint32_t l) { prov_frames(1, f, l, NULL, 0, NULL, 0); }
static int prov_install(void) { return phn_tracemalloc_set_frame_provider(test_provider, &P) == PHN_OK; }
static void prov_remove(void) {
    phn_tracemalloc_set_frame_provider(NULL, NULL);
    prov_reset();
}

/* ------------------------------------------------------------------ two call sites */

void* volatile g_sink_a;
void* volatile g_sink_b;
volatile int g_sink_c;

/* Not inlined, not cloned, not merged (different bodies), and not tail calls: the return
 * address of phn_mem_malloc lies inside each of them. */
__attribute__((noinline, noclone)) void* trace_site_a(size_t n);
__attribute__((noinline, noclone)) void* trace_site_b(size_t n);
__attribute__((noinline, noclone)) void* trace_site_a(size_t n) {
    void* p = phn_mem_malloc(n);
    g_sink_a = p;
    return p;
}
__attribute__((noinline, noclone)) void* trace_site_b(size_t n) {
    void* p = phn_mem_malloc(n);
    g_sink_b = p;
    g_sink_c++;
    return p;
}

/* The real path of this executable. */
static char g_exe[PATH_MAX];

/* 1 if a native frame names this executable: "<module>" (no symbol: the tests are not
 * linked with -rdynamic) or "<module>:<symbol>", module resolving to /proc/self/exe. */
static int frame_is_this_exe(const phn_frame* f) {
    if (!f->filename) return 0;
    char module[PATH_MAX], resolved[PATH_MAX];
    snprintf(module, sizeof module, "%s", f->filename);
    if (!realpath(module, resolved)) {
        char* colon = strrchr(module, ':');
        if (!colon) return 0;
        *colon = '\0';
        if (!realpath(module, resolved)) return 0;
    }
    return strcmp(resolved, g_exe) == 0;
}

/* Offset of a function from the executable's base (what a native frame's line is, when it
 * has no symbol). */
static uintptr_t exe_offset(const void* fn) {
    Dl_info info;
    if (dladdr(fn, &info) == 0) return 0;
    return (uintptr_t)fn - (uintptr_t)info.dli_fbase;
}

/* A frame's line lies within the first 256 bytes of fn (a return address inside it). */
static int frame_inside(const phn_frame* f, const void* fn) {
    uintptr_t off = exe_offset(fn);
    return off != 0 && f->lineno > off && f->lineno < off + 256;
}

/* ------------------------------------------------------------------ item 40, 41 */

static void test_start_limits(void) {
    phn_tracemalloc_stop();
    CHECK_BODY("start(0), start(65536), start(-1), start(INT32_MAX): PHN_EINVAL with CPython's message, not tracing (item 40)") {
        static const int32_t bad[] = {0, 65536, -1, INT32_MIN, INT32_MAX, 70000};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            phn_clear_error();
            int32_t rc = phn_tracemalloc_start(bad[i]);
            int good = rc == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL && msg_is(RANGE_MSG) &&
                       phn_tracemalloc_is_tracing() == 0;
            if (!good) fprintf(stderr, "\n  start(%d) -> %d, tracing %d\n", bad[i], rc, phn_tracemalloc_is_tracing());
            result = result && good;
        }
    }
    CHECK_BODY("start(65535) and start(1) are accepted; is_tracing 1 / 0 around stop") {
        result = phn_tracemalloc_start(PHN_TRACEMALLOC_MAX_NFRAME) == PHN_OK && phn_tracemalloc_is_tracing() == 1 &&
                 phn_tracemalloc_get_traceback_limit() == 65535 && phn_tracemalloc_stop() == PHN_OK &&
                 phn_tracemalloc_is_tracing() == 0 && phn_tracemalloc_start(1) == PHN_OK &&
                 phn_tracemalloc_get_traceback_limit() == 1;
        phn_tracemalloc_stop();
    }
    CHECK_BODY("a second start(10) while tracing with 3 frames returns PHN_OK and keeps 3 (item 41)") {
        result = phn_tracemalloc_start(3) == PHN_OK && phn_tracemalloc_start(10) == PHN_OK &&
                 phn_tracemalloc_get_traceback_limit() == 3 && phn_tracemalloc_is_tracing() == 1;
        void* p = phn_mem_malloc(10);
        result = result && traced_current() == 10;   /* the second start did not reset anything */
        phn_mem_free(p);
        phn_tracemalloc_stop();
    }
    CHECK_BODY("the traceback limit survives stop; stop when stopped is a no-op returning PHN_OK") {
        result = phn_tracemalloc_get_traceback_limit() == 3 && phn_tracemalloc_stop() == PHN_OK &&
                 phn_tracemalloc_stop() == PHN_OK && phn_tracemalloc_get_traceback_limit() == 3;
    }
    CHECK_BODY("a failed start(0) while tracing changes nothing (still tracing, same limit, traces kept)") {
        result = fresh_start(4);
        void* p = phn_mem_malloc(33);
        result = result && phn_tracemalloc_start(0) == PHN_EINVAL && phn_tracemalloc_is_tracing() == 1 &&
                 phn_tracemalloc_get_traceback_limit() == 4 && traced_current() == 33;
        phn_mem_free(p);
        phn_tracemalloc_stop();
    }
}

/* ------------------------------------------------------------------ item 42, 43 */

static void test_track_untrack(void) {
    int dummy[4];
    uintptr_t addr = (uintptr_t)U(&dummy[0]);
    phn_tracemalloc_stop();
    CHECK_BODY("track and untrack return -2 while stopped (item 42)") {
        result = phn_tracemalloc_track(0, addr, 10) == -2 && phn_tracemalloc_untrack(0, addr) == -2 &&
                 phn_tracemalloc_track(7, addr, 10) == -2 && phn_tracemalloc_untrack(7, addr) == -2;
    }
    CHECK_BODY("track returns 0; tracking again replaces the size: one trace of 300 (item 42)") {
        result = fresh_start(1);
        result = result && phn_tracemalloc_track(7, addr, 100) == 0 && traced_current() == 100 &&
                 phn_tracemalloc_track(7, addr, 300) == 0 && traced_current() == 300 && traced_peak() == 300;
        phn_snapshot* s = take();
        int64_t n = -1;
        phn_trace t;
        result = result && s && snapshot_sum(s, 7, &n) == 300 && n == 1 && find_trace(s, 7, 300, &t) && t.nframe >= 1;
        phn_snapshot_free(s);
    }
    CHECK_BODY("the same address in another trace domain is another trace") {
        result = phn_tracemalloc_track(8, addr, 5) == 0 && traced_current() == 305;
        phn_snapshot* s = take();
        int64_t n7 = -1, n8 = -1;
        result = result && s && snapshot_sum(s, 7, &n7) == 300 && snapshot_sum(s, 8, &n8) == 5 && n7 == 1 && n8 == 1;
        phn_snapshot_free(s);
    }
    CHECK_BODY("untrack returns 0 and removes the size; untrack again, of an unknown address or domain: 0 (item 42)") {
        result = phn_tracemalloc_untrack(7, addr) == 0 && traced_current() == 5 && phn_tracemalloc_untrack(7, addr) == 0 &&
                 phn_tracemalloc_untrack(99, addr) == 0 && phn_tracemalloc_untrack(0, addr + 16) == 0 &&
                 phn_tracemalloc_untrack(8, addr) == 0 && traced_current() == 0 && traced_peak() == 305;
    }
    CHECK_BODY("track(5, p, 1234): the snapshot has a trace with domain 5 and that size, selected by a DomainFilter(True, 5) (item 43)") {
        result = phn_tracemalloc_track(5, addr, 1234) == 0;
        void* p = phn_mem_malloc(40);
        phn_snapshot* s = take();
        phn_trace t;
        result = result && s && find_trace(s, 5, 1234, &t);
        phn_filter f = {1, 0, NULL, PHN_FILTER_ANY_LINE, 5};
        phn_snapshot* only5 = NULL;
        result = result && phn_snapshot_filter_traces(s, &f, 1, &only5) == PHN_OK && phn_snapshot_trace_count(only5) == 1 &&
                 find_trace(only5, 5, 1234, &t);
        phn_filter ex = {0, 0, NULL, PHN_FILTER_ANY_LINE, 5};
        phn_snapshot* not5 = NULL;
        int64_t n5 = -1;
        result = result && phn_snapshot_filter_traces(s, &ex, 1, &not5) == PHN_OK &&
                 phn_snapshot_trace_count(not5) == phn_snapshot_trace_count(s) - 1 && snapshot_sum(not5, 5, &n5) == 0 && n5 == 0 &&
                 find_trace(not5, PHN_TRACE_DOMAIN_DEFAULT, 40, &t);
        phn_snapshot_free(only5);
        phn_snapshot_free(not5);
        phn_snapshot_free(s);
        phn_mem_free(p);
        phn_tracemalloc_untrack(5, addr);
    }
    CHECK_BODY("track over a traced block of domain 0 replaces its trace; freeing the block removes it") {
        void* p = phn_mem_malloc(100);
        result = traced_current() == 100 && phn_tracemalloc_track(PHN_TRACE_DOMAIN_DEFAULT, (uintptr_t)U(p), 7) == 0 &&
                 traced_current() == 7;
        phn_mem_free(p);
        result = result && traced_current() == 0;
    }
    CHECK_BODY("track(5, 0, 100) (address 0) is stored as a visible trace that untrack removes, or refused (-1); never counted invisibly") {
        size_t before = traced_current();
        int32_t rc = phn_tracemalloc_track(5, 0, 100);
        phn_snapshot* s = take();
        int64_t n = -1;
        uint64_t sum = s ? snapshot_sum(s, 5, &n) : 0;
        phn_snapshot_free(s);
        int32_t urc = phn_tracemalloc_untrack(5, 0);
        size_t after = traced_current();
        if (rc == 0)
            result = traced_current() == before && sum == 100 && n == 1 && urc == 0 && after == before;
        else
            result = rc == -1 && sum == 0 && after == before;
        /* what the library counted while the trace existed */
        if (!result)
            fprintf(stderr, "\n  track -> %d, snapshot sum of domain 5 = %llu (%lld traces), untrack -> %d, current %zu -> %zu\n",
                    rc, (unsigned long long)sum, (long long)n, urc, before, after);
        phn_tracemalloc_stop();
    }
    CHECK_BODY("after stop: track/untrack -2 again, (0, 0)") {
        result = phn_tracemalloc_track(7, addr, 1) == -2 && phn_tracemalloc_untrack(7, addr) == -2 &&
                 traced_current() == 0 && traced_peak() == 0;
    }
}

/* ------------------------------------------------------------------ item 44 */

static void test_traced_once(void) {
    CHECK_BODY("phn_obj_malloc(100000) (pymalloc's RAW fallback) is traced once: +100000 and one trace (item 44)") {
        result = fresh_start(1);
        void* p = phn_obj_malloc(100000);
        phn_snapshot* s = take();
        result = result && p && traced_current() == 100000 && s && phn_snapshot_trace_count(s) == 1 &&
                 count_traces_of_size(s, 100000) == 1;
        phn_snapshot_free(s);
        phn_obj_free(p);
        result = result && traced_current() == 0 && traced_peak() == 100000;
    }
    CHECK_BODY("phn_mem_malloc(600) and phn_obj_realloc across the 512-byte threshold are traced once each") {
        void* a = phn_mem_malloc(600);
        void* b = phn_obj_malloc(100);
        result = traced_current() == 700;
        b = phn_obj_realloc(b, 5000);    /* small -> RAW */
        result = result && b && traced_current() == 5600;
        b = phn_obj_realloc(b, 50);      /* RAW -> small */
        result = result && b && traced_current() == 650;
        phn_snapshot* s = take();
        result = result && s && phn_snapshot_trace_count(s) == 2;
        phn_snapshot_free(s);
        phn_mem_free(a);
        phn_obj_free(b);
        result = result && traced_current() == 0;
    }
    CHECK_BODY("70000 blocks of 16 bytes (new arenas, pools) are traced as exactly 70000 * 16 bytes") {
        enum { N = 70000 };
        void** v = (void**)malloc(N * sizeof(void*));
        phn_tracemalloc_clear_traces();
        for (int i = 0; v && i < N; i++) v[i] = phn_obj_malloc(16);
        result = v && traced_current() == (size_t)N * 16;
        phn_snapshot* s = take();
        result = result && s && phn_snapshot_trace_count(s) == N;
        phn_snapshot_free(s);
        for (int i = 0; v && i < N; i++) phn_obj_free(v[i]);
        result = result && traced_current() == 0;
        free(v);
        phn_tracemalloc_stop();
    }
}

/* ------------------------------------------------------------------ item 45 */

static void test_traced_memory(void) {
    phn_tracemalloc_stop();
    CHECK_BODY("get_traced_memory is (0, 0) when not tracing, PHN_OK with NULL arguments (item 45)") {
        size_t c = 123, p = 456;
        result = phn_tracemalloc_get_traced_memory(&c, &p) == PHN_OK && c == 0 && p == 0 &&
                 phn_tracemalloc_get_traced_memory(NULL, NULL) == PHN_OK;
    }
    CHECK_BODY("reset_peak and clear_traces when not tracing: PHN_OK, nothing happens") {
        result = phn_tracemalloc_reset_peak() == PHN_OK && phn_tracemalloc_clear_traces() == PHN_OK &&
                 phn_tracemalloc_is_tracing() == 0 && traced_current() == 0;
    }
    void *a = NULL, *b = NULL, *c = NULL;
    CHECK_BODY("peak >= current; the peak survives frees (item 45)") {
        result = fresh_start(1);
        a = phn_mem_malloc(1000);
        b = phn_raw_malloc(2000);
        result = result && traced_current() == 3000 && traced_peak() == 3000;
        phn_raw_free(b);
        result = result && traced_current() == 1000 && traced_peak() == 3000;
    }
    CHECK_BODY("reset_peak sets the peak to the current size (item 45)") {
        result = phn_tracemalloc_reset_peak() == PHN_OK && traced_current() == 1000 && traced_peak() == 1000;
        c = phn_obj_calloc(10, 50);
        result = result && traced_current() == 1500 && traced_peak() == 1500;
        phn_obj_free(c);
        result = result && traced_current() == 1000 && traced_peak() == 1500;
    }
    CHECK_BODY("clear_traces sets current and peak to 0; freeing a block traced before does not go below 0 (item 45)") {
        result = phn_tracemalloc_clear_traces() == PHN_OK && traced_current() == 0 && traced_peak() == 0;
        phn_mem_free(a);
        result = result && traced_current() == 0 && traced_peak() == 0;
        phn_snapshot* s = take();
        result = result && s && phn_snapshot_trace_count(s) == 0;
        phn_snapshot_free(s);
    }
    CHECK_BODY("a block allocated before start and reallocated while tracing is traced with its new size") {
        phn_tracemalloc_stop();
        void* p = phn_mem_malloc(100);
        result = fresh_start(1);
        p = phn_mem_realloc(p, 200);
        result = result && p && traced_current() == 200;
        phn_mem_free(p);
        result = result && traced_current() == 0;
    }
    CHECK_BODY("failed calls change nothing: calloc overflow, malloc(SIZE_MAX), realloc(p, SIZE_MAX) keeps p's trace") {
        phn_tracemalloc_reset_peak();   /* current is 0 here */
        void* p = phn_mem_malloc(64);
        size_t before = traced_current();
        void* x = phn_mem_calloc(v_half, v_two);
        void* y = phn_obj_malloc(v_size_max);
        void* z = phn_raw_malloc(v_size_max);
        void* r = phn_mem_realloc(p, v_size_max);
        result = !x && !y && !z && !r && traced_current() == before && before == 64 && traced_peak() == 64;
        phn_mem_free(p);
        result = result && traced_current() == 0;
    }
    CHECK_BODY("realloc(p, PTRDIFF_MAX) passes the size check and fails: p keeps its trace, size and traceback") {
        void* p = phn_obj_malloc(48);   /* traced by the C fast path (phn_fast_trace.c) */
        phn_snapshot* s1 = take();
        phn_trace t1;
        int found1 = s1 && find_trace(s1, 0, 48, &t1);
        errno = 0;
        void* r = phn_obj_realloc(p, (size_t)PTRDIFF_MAX);
        int err = errno;
        phn_snapshot* s2 = take();
        phn_trace t2;
        int found2 = s2 && find_trace(s2, 0, 48, &t2);
        result = found1 && found2 && r == NULL && err == ENOMEM && traced_current() == 48
            && t1.nframe == 1 && t2.nframe == 1 && strcmp(t1.frames[0].filename, t2.frames[0].filename) == 0
            && t1.frames[0].lineno == t2.frames[0].lineno;
        phn_snapshot_free(s1);
        phn_snapshot_free(s2);
        phn_obj_free(p);
        result = result && traced_current() == 0;
    }
    CHECK_BODY("realloc(p, 0) is traced as 0 bytes; free(NULL) changes nothing") {
        void* p = phn_obj_malloc(300);
        p = phn_obj_realloc(p, 0);
        phn_snapshot* s = take();
        phn_trace t;
        result = p && traced_current() == 0 && s && find_trace(s, 0, 0, &t);
        phn_snapshot_free(s);
        phn_obj_free(NULL);
        phn_mem_free(NULL);
        phn_raw_free(NULL);
        phn_obj_free(p);
        result = result && traced_current() == 0;
    }
    CHECK_BODY("stop gives (0, 0) and forgets the traces: a restart starts from an empty table") {
        void* p = phn_mem_malloc(77);
        result = traced_current() == 77 && phn_tracemalloc_stop() == PHN_OK && traced_current() == 0 && traced_peak() == 0;
        result = result && fresh_start(1);
        phn_snapshot* s = take();
        result = result && s && phn_snapshot_trace_count(s) == 0;
        phn_snapshot_free(s);
        phn_mem_free(p);   /* allocated in the previous session: untraced now */
        result = result && traced_current() == 0;
        phn_tracemalloc_stop();
    }
}

/* ------------------------------------------------------------------ item 46, 47 */

static void test_snapshot_errors(void) {
    phn_tracemalloc_stop();
    CHECK_BODY("take_snapshot while not tracing: PHN_ESTATE, CPython's message, *out = NULL (item 46)") {
        phn_snapshot* s = (phn_snapshot*)(uintptr_t)0x1234;
        phn_clear_error();
        result = phn_tracemalloc_take_snapshot(&s) == PHN_ESTATE && s == NULL && phn_last_error_code() == PHN_ESTATE &&
                 msg_is(SNAPSHOT_MSG);
    }
    CHECK_BODY("take_snapshot(NULL): PHN_EINVAL") {
        result = fresh_start(1) && phn_tracemalloc_take_snapshot(NULL) == PHN_EINVAL;
    }
    phn_snapshot* s = take();
    CHECK_BODY("statistics(PHN_KEY_TRACEBACK, cumulative): PHN_EINVAL \"cumulative mode cannot by used with key type 'traceback'\" (item 47)") {
        phn_statistics* st = (phn_statistics*)(uintptr_t)0x1234;
        result = s && phn_snapshot_statistics(s, PHN_KEY_TRACEBACK, 1, &st) == PHN_EINVAL && st == NULL && msg_is(CUMULATIVE_MSG);
        phn_snapshot* old = take();
        st = NULL;
        result = result && old && phn_snapshot_compare_to(s, old, PHN_KEY_TRACEBACK, 1, &st) == PHN_EINVAL && st == NULL &&
                 msg_is(CUMULATIVE_MSG);
        phn_snapshot_free(old);
    }
    CHECK_BODY("statistics with an unknown key (3, -1, 1000): PHN_EINVAL \"unknown key_type: <k>\" (item 47)") {
        static const int32_t keys[] = {3, -1, 1000};
        for (size_t i = 0; i < 3; i++) {
            char want[64];
            snprintf(want, sizeof want, "unknown key_type: %d", keys[i]);
            phn_statistics* st = NULL;
            int good = s && phn_snapshot_statistics(s, keys[i], 0, &st) == PHN_EINVAL && st == NULL && msg_starts("unknown key_type") &&
                       strstr(phn_last_error_message(), want + strlen("unknown key_type: ")) != NULL;
            good = good && phn_snapshot_statistics(s, keys[i], 1, &st) == PHN_EINVAL && msg_starts("unknown key_type");
            good = good && phn_snapshot_compare_to(s, s, keys[i], 0, &st) == PHN_EINVAL && msg_starts("unknown key_type");
            result = result && good;
        }
    }
    CHECK_BODY("the three keys are accepted, cumulative with filename and lineno too") {
        for (int32_t k = PHN_KEY_FILENAME; k <= PHN_KEY_TRACEBACK; k++)
            for (int32_t cu = 0; cu <= (k == PHN_KEY_TRACEBACK ? 0 : 1); cu++) {
                phn_statistics* st = NULL;
                result = result && phn_snapshot_statistics(s, k, cu, &st) == PHN_OK && phn_statistics_count(st) >= 0;
                phn_statistics_free(st);
            }
    }
    phn_snapshot_free(s);
    phn_tracemalloc_stop();
}

/* ------------------------------------------------------------------ item 48 */

static void* alloc_at(const char* file, uint32_t line, size_t size) {
    prov1(file, line);
    return phn_mem_malloc(size);
}

static void test_statistics_order(void) {
    CHECK_BODY("frame provider installed") { result = fresh_start(1) && prov_install(); }
    void* a1 = alloc_at("a.py", 1, 100);
    void* a1b = alloc_at("a.py", 1, 100);
    void* a2 = alloc_at("a.py", 2, 300);
    void* b1 = alloc_at("b.py", 1, 200);
    void* c5 = alloc_at("c.py", 5, 200);
    phn_snapshot* old = take();
    CHECK_BODY("statistics(lineno): sorted by (size, count, traceback) descending (item 48)") {
        result = old && text_is(stats_text(old, NULL, PHN_KEY_LINENO, 0),
                                "a.py:2 size=300 count=1\n"
                                "a.py:1 size=200 count=2\n"
                                "c.py:5 size=200 count=1\n"
                                "b.py:1 size=200 count=1\n");
    }
    CHECK_BODY("statistics(filename): one group per file, lineno reported as 0 (item 48)") {
        result = old && text_is(stats_text(old, NULL, PHN_KEY_FILENAME, 0),
                                "a.py:0 size=500 count=3\n"
                                "c.py:0 size=200 count=1\n"
                                "b.py:0 size=200 count=1\n");
    }
    CHECK_BODY("statistics(traceback) with one frame equals statistics(lineno); diffs are 0") {
        result = old && text_is(stats_text(old, NULL, PHN_KEY_TRACEBACK, 0),
                                "a.py:2 size=300 count=1\n"
                                "a.py:1 size=200 count=2\n"
                                "c.py:5 size=200 count=1\n"
                                "b.py:1 size=200 count=1\n");
    }
    phn_mem_free(a2);
    void* d1 = alloc_at("d.py", 1, 50);
    void* a1c = alloc_at("a.py", 1, 100);
    phn_snapshot* now = take();
    CHECK_BODY("compare_to(lineno): sorted by (|size_diff|, size, |count_diff|, count, traceback); a vanished group has size 0, count 0, negative diffs (item 48)") {
        result = now && text_is(stats_text(now, old, PHN_KEY_LINENO, 0),
                                "a.py:2 size=0 count=0 diff=-300/-1\n"
                                "a.py:1 size=300 count=3 diff=+100/+1\n"
                                "d.py:1 size=50 count=1 diff=+50/+1\n"
                                "c.py:5 size=200 count=1 diff=+0/+0\n"
                                "b.py:1 size=200 count=1 diff=+0/+0\n");
    }
    CHECK_BODY("compare_to(filename): lineno 0, groups merged by file") {
        /* |size_diff| first: a.py (-200) before d.py (+50) */
        result = now && text_is(stats_text(now, old, PHN_KEY_FILENAME, 0),
                                "a.py:0 size=300 count=3 diff=-200/+0\n"
                                "d.py:0 size=50 count=1 diff=+50/+1\n"
                                "c.py:0 size=200 count=1 diff=+0/+0\n"
                                "b.py:0 size=200 count=1 diff=+0/+0\n");
    }
    CHECK_BODY("compare_to against itself: every diff 0, same order as statistics") {
        result = now && text_is(stats_text(now, now, PHN_KEY_LINENO, 0),
                                "a.py:1 size=300 count=3 diff=+0/+0\n"
                                "c.py:5 size=200 count=1 diff=+0/+0\n"
                                "b.py:1 size=200 count=1 diff=+0/+0\n"
                                "d.py:1 size=50 count=1 diff=+0/+0\n");
    }
    CHECK_BODY("compare_to: tie on |size_diff| broken by size, then |count_diff|, then count") {
        /* e.py: +60 with size 60; f.py: +60 with size 160 (was 100); g.py: -60 (size 0) */
        phn_tracemalloc_clear_traces();
        void* f0 = alloc_at("f.py", 1, 100);
        void* g0 = alloc_at("g.py", 1, 60);
        phn_snapshot* o2 = take();
        void* e0 = alloc_at("e.py", 1, 60);
        void* f1 = alloc_at("f.py", 1, 60);
        phn_mem_free(g0);
        phn_snapshot* n2 = take();
        result = o2 && n2 && text_is(stats_text(n2, o2, PHN_KEY_LINENO, 0),
                                     "f.py:1 size=160 count=2 diff=+60/+1\n"
                                     "e.py:1 size=60 count=1 diff=+60/+1\n"
                                     "g.py:1 size=0 count=0 diff=-60/-1\n");
        phn_snapshot_free(o2);
        phn_snapshot_free(n2);
        phn_mem_free(f0);
        phn_mem_free(e0);
        phn_mem_free(f1);
    }
    phn_snapshot_free(old);
    phn_snapshot_free(now);
    phn_mem_free(a1); phn_mem_free(a1b); phn_mem_free(b1); phn_mem_free(c5); phn_mem_free(d1); phn_mem_free(a1c);

    CHECK_BODY("cumulative statistics count a trace once per frame; filename groups merge lines") {
        phn_tracemalloc_stop();
        result = phn_tracemalloc_start(5) == PHN_OK;
        prov_frames(2, "f.py", 1, "g.py", 2, NULL, 0);
        void* x = phn_mem_malloc(10);
        prov_frames(2, "f.py", 3, "g.py", 2, NULL, 0);
        void* y = phn_mem_malloc(20);
        prov_frames(2, "h.py", 1, "h.py", 2, NULL, 0);
        void* z = phn_mem_malloc(5);
        phn_snapshot* s = take();
        result = result && s &&
                 text_is(stats_text(s, NULL, PHN_KEY_LINENO, 1),
                         "g.py:2 size=30 count=2\n"
                         "f.py:3 size=20 count=1\n"
                         "f.py:1 size=10 count=1\n"
                         "h.py:2 size=5 count=1\n"
                         "h.py:1 size=5 count=1\n") &&
                 text_is(stats_text(s, NULL, PHN_KEY_FILENAME, 1),
                         "g.py:0 size=30 count=2\n"
                         "f.py:0 size=30 count=2\n"
                         "h.py:0 size=10 count=2\n") &&
                 text_is(stats_text(s, NULL, PHN_KEY_TRACEBACK, 0),
                         "f.py:3<g.py:2 size=20 count=1\n"
                         "f.py:1<g.py:2 size=10 count=1\n"
                         "h.py:1<h.py:2 size=5 count=1\n") &&
                 text_is(stats_text(s, NULL, PHN_KEY_LINENO, 0),
                         "f.py:3 size=20 count=1\n"
                         "f.py:1 size=10 count=1\n"
                         "h.py:1 size=5 count=1\n");
        phn_snapshot_free(s);
        phn_mem_free(x); phn_mem_free(y); phn_mem_free(z);
    }
    CHECK_BODY("traceback order compares oldest frame first: [x.py:9 < a.py:1] sorts above [y.py:1 < b.py:1] on a size tie") {
        phn_tracemalloc_clear_traces();
        prov_frames(2, "y.py", 1, "b.py", 1, NULL, 0);
        void* x = phn_mem_malloc(10);
        prov_frames(2, "x.py", 9, "a.py", 1, NULL, 0);
        void* y = phn_mem_malloc(10);
        phn_snapshot* s = take();
        /* descending: oldest frames compared first, b.py > a.py */
        result = s && text_is(stats_text(s, NULL, PHN_KEY_TRACEBACK, 0),
                              "y.py:1<b.py:1 size=10 count=1\n"
                              "x.py:9<a.py:1 size=10 count=1\n");
        phn_snapshot_free(s);
        phn_mem_free(x); phn_mem_free(y);
    }
    prov_remove();
    phn_tracemalloc_stop();
}

/* ------------------------------------------------------------------ item 49: frames */

static void test_provider_frames(void) {
    CHECK_BODY("provider frames are stored most recent first, as the provider gave them (item 49)") {
        result = fresh_start(5) && prov_install();
        prov_frames(3, "inner.py", 3, "middle.py", 2, "outer.py", 1);
        void* p = phn_mem_malloc(111);
        phn_snapshot* s = take();
        phn_trace t;
        result = result && p && s && find_trace(s, 0, 111, &t) && t.nframe == 3 && t.total_nframe == 3 &&
                 strcmp(t.frames[0].filename, "inner.py") == 0 && t.frames[0].lineno == 3 &&
                 strcmp(t.frames[1].filename, "middle.py") == 0 && t.frames[1].lineno == 2 &&
                 strcmp(t.frames[2].filename, "outer.py") == 0 && t.frames[2].lineno == 1 && P.last_max == 5 &&
                 phn_snapshot_traceback_limit(s) == 5;
        phn_snapshot_free(s);
        phn_mem_free(p);
    }
    CHECK_BODY("total_nframe is the provider's total depth (10) with 2 frames kept at limit 2 (item 49)") {
        phn_tracemalloc_stop();
        result = phn_tracemalloc_start(2) == PHN_OK;
        prov_frames(3, "inner.py", 3, "middle.py", 2, "outer.py", 1);
        P.total = 10;
        void* p = phn_mem_malloc(112);
        phn_snapshot* s = take();
        phn_trace t;
        result = result && s && find_trace(s, 0, 112, &t) && t.nframe == 2 && t.total_nframe == 10 && P.last_max == 2 &&
                 strcmp(t.frames[0].filename, "inner.py") == 0 && strcmp(t.frames[1].filename, "middle.py") == 0;
        phn_snapshot_free(s);
        phn_mem_free(p);
    }
    CHECK_BODY("total_nframe saturates at 65535") {
        prov_frames(1, "deep.py", 1, NULL, 0, NULL, 0);
        P.total = 100000;
        void* p = phn_mem_malloc(113);
        phn_snapshot* s = take();
        phn_trace t;
        result = s && find_trace(s, 0, 113, &t) && t.nframe == 1 && t.total_nframe == 65535;
        phn_snapshot_free(s);
        phn_mem_free(p);
    }
    CHECK_BODY("a provider returning 0 frames gives the single frame (\"<unknown>\", 0) (item 49)") {
        prov_frames(0, NULL, 0, NULL, 0, NULL, 0);
        void* p = phn_mem_malloc(114);
        phn_snapshot* s = take();
        phn_trace t;
        result = s && find_trace(s, 0, 114, &t) && t.nframe == 1 && t.total_nframe == 1 &&
                 strcmp(t.frames[0].filename, "<unknown>") == 0 && t.frames[0].lineno == 0;
        phn_snapshot_free(s);
        phn_mem_free(p);
    }
    CHECK_BODY("a provider frame with a NULL filename is named \"<unknown>\"") {
        prov_frames(1, NULL, 42, NULL, 0, NULL, 0);
        void* p = phn_mem_malloc(115);
        phn_snapshot* s = take();
        phn_trace t;
        result = s && find_trace(s, 0, 115, &t) && t.nframe == 1 && t.frames[0].filename &&
                 strcmp(t.frames[0].filename, "<unknown>") == 0 && t.frames[0].lineno == 42;
        phn_snapshot_free(s);
        phn_mem_free(p);
    }
    CHECK_BODY("(\"app.py\", 10) and (\"app.py\", 20): exactly those frames; PHN_KEY_FILENAME makes one \"app.py\" group") {
        phn_tracemalloc_stop();
        result = phn_tracemalloc_start(1) == PHN_OK;
        prov1("app.py", 10);
        void* p = phn_mem_malloc(1000);
        prov1("app.py", 20);
        void* q = phn_obj_malloc(24);
        phn_snapshot* s = take();
        phn_trace t1, t2;
        result = result && s && phn_snapshot_trace_count(s) == 2 && find_trace(s, 0, 1000, &t1) && find_trace(s, 0, 24, &t2) &&
                 t1.nframe == 1 && strcmp(t1.frames[0].filename, "app.py") == 0 && t1.frames[0].lineno == 10 &&
                 t2.nframe == 1 && strcmp(t2.frames[0].filename, "app.py") == 0 && t2.frames[0].lineno == 20 &&
                 text_is(stats_text(s, NULL, PHN_KEY_FILENAME, 0), "app.py:0 size=1024 count=2\n") &&
                 text_is(stats_text(s, NULL, PHN_KEY_LINENO, 0), "app.py:10 size=1000 count=1\napp.py:20 size=24 count=1\n");
        phn_snapshot_free(s);
        phn_mem_free(p);
        phn_obj_free(q);
    }
    CHECK_BODY("a provider allocating through phn_mem_malloc: its blocks are not traced, the traced sizes stay exact") {
        phn_tracemalloc_clear_traces();
        P.allocate = 1;
        prov1("alloc.py", 1);
        long calls = P.calls;
        void* v[20];
        for (int i = 0; i < 20; i++) v[i] = phn_raw_malloc(10 + (size_t)i);
        phn_snapshot* s = take();
        int64_t n = -1;
        result = P.calls - calls == 20 && P.nblocks == 20 && traced_current() == 20 * 10 + 190 && s &&
                 snapshot_sum(s, -1, &n) == 390 && n == 20 && count_traces_of_size(s, 777) == 0;
        phn_snapshot_free(s);
        P.allocate = 0;
        for (int i = 0; i < 20; i++) phn_raw_free(v[i]);
        for (int i = 0; i < P.nblocks; i++) phn_mem_free(P.blocks[i]);   /* untraced: nothing changes */
        P.nblocks = 0;
        result = result && traced_current() == 0;
    }
    CHECK_BODY("the provider runs outside the library's locks: it may read the traced memory") {
        P.query = 1;
        long q = P.queried;
        void* p = phn_mem_malloc(5);
        result = P.queried == q + 1 && traced_current() == 5;
        phn_mem_free(p);
        P.query = 0;
    }
    CHECK_BODY("the provider's file names are copied: a buffer the next call rewrites is enough") {
        phn_tracemalloc_clear_traces();
        P.stack_names = 1;
        P.seq = 0;
        prov1("placeholder", 7);
        void* v[40];
        for (int i = 0; i < 40; i++) v[i] = phn_mem_malloc(1000 + (size_t)i);
        P.stack_names = 0;
        phn_snapshot* s = take();
        int bad = 0;
        for (int i = 0; s && i < 40; i++) {
            phn_trace t;
            char want[32];
            snprintf(want, sizeof want, "stack_%03d.py", i);
            if (!find_trace(s, 0, 1000 + (uint64_t)i, &t) || t.nframe != 1 || strcmp(t.frames[0].filename, want) != 0) {
                if (bad++ < 3) fprintf(stderr, "\n  block %d: frame \"%s\", expected \"%s\"\n", i, t.nframe ? t.frames[0].filename : "?", want);
            }
        }
        result = s && bad == 0;
        phn_snapshot_free(s);
        for (int i = 0; i < 40; i++) phn_mem_free(v[i]);
    }
    CHECK_BODY("set_frame_provider(NULL) restores native frames") {
        prov_remove();
        void* p = trace_site_a(116);
        phn_snapshot* s = take();
        phn_trace t;
        result = s && find_trace(s, 0, 116, &t) && t.nframe == 1 && frame_is_this_exe(&t.frames[0]);
        phn_snapshot_free(s);
        phn_mem_free(p);
    }
    prov_remove();
    phn_tracemalloc_stop();
}

/* The C fast path (Native/phn_fast_trace.h) serves a call site whose one-frame traceback is
 * cached; a frame provider installed afterwards must take that site over at once (the
 * tracer's gate), and so must a deeper traceback limit. */
static void test_provider_after_cached_site(void) {
    CHECK_BODY("a call site traced with native frames (its traceback cached), then a provider installed: the next "
               "allocation there has the provider's frame; removed again: native frames") {
        result = fresh_start(1);
        void* warm[3];
        for (int i = 0; i < 3; i++) warm[i] = trace_site_a(91);   /* the site's traceback cached */
        prov_reset();
        prov1("after_cache.py", 42);
        int installed = prov_install();
        void* p = trace_site_a(92);
        prov_remove();
        void* q = trace_site_a(93);
        phn_snapshot* s = take();
        phn_trace tp, tq;
        int fp = s && find_trace(s, 0, 92, &tp), fq = s && find_trace(s, 0, 93, &tq);
        result = result && installed && fp && tp.nframe == 1 && tp.frames[0].filename != NULL
                 && strcmp(tp.frames[0].filename, "after_cache.py") == 0 && tp.frames[0].lineno == 42
                 && fq && tq.nframe == 1 && frame_is_this_exe(&tq.frames[0]);
        if (!result && fp) fprintf(stderr, "\n  the block of 92 bytes: %d frames, \"%s\":%u\n", (int)tp.nframe,
                                   tp.nframe ? tp.frames[0].filename : "?", tp.nframe ? tp.frames[0].lineno : 0);
        phn_snapshot_free(s);
        for (int i = 0; i < 3; i++) phn_mem_free(warm[i]);
        phn_mem_free(p);
        phn_mem_free(q);
        phn_tracemalloc_stop();
    }
}

/* Objects are traced where the program made them, not inside the library: phn_object_new's
 * block is allocated by the managed constructor while tracing (its C path declines when the
 * OBJ domain is wrapped), with its caller unknown, so the stack is walked past the library. */
__attribute__((noinline, noclone)) phn_object* trace_object_site(phn_type* t);
__attribute__((noinline, noclone)) phn_object* trace_object_site(phn_type* t) {
    phn_object* o = phn_object_new(t);
    g_sink_a = o;
    return o;
}

static void test_object_frames(void) {
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = (uint32_t)sizeof spec;
    spec.name = "TracedLeaf";
    spec.basicsize = 208;   /* a size no other trace of these tests has */
    phn_type* t = phn_type_new(&spec);
    for (int limit = 1; limit <= 3; limit += 2) {
        CHECK_BODY(limit == 1 ? "phn_object_new while tracing, limit 1: the object's trace names this executable (the "
                                "call site), not the library"
                              : "phn_object_new while tracing, limit 3: the most recent frame is this executable's") {
            result = t != NULL && fresh_start(limit);
            phn_object* o[3];
            for (int i = 0; i < 3; i++) o[i] = trace_object_site(t);
            phn_snapshot* s = take();
            phn_trace tr;
            int found = s && find_trace(s, 0, 208, &tr);
            result = result && o[2] != NULL && found && tr.nframe >= 1 && frame_is_this_exe(&tr.frames[0]);
            if (!result && found) fprintf(stderr, "\n  %d frames, the first \"%s\":%u\n", (int)tr.nframe,
                                          tr.nframe ? tr.frames[0].filename : "?", tr.nframe ? tr.frames[0].lineno : 0);
            phn_snapshot_free(s);
            for (int i = 0; i < 3; i++) if (o[i]) phn_decref(o[i]);
            phn_tracemalloc_stop();
        }
    }
}

static void test_native_frames(void) {
    CHECK_BODY("native frames, limit 1: two call sites make two PHN_KEY_LINENO groups named after this executable, lines inside each site; PHN_KEY_FILENAME one group") {
        result = fresh_start(1);
        void* a[3];
        void* b[2];
        for (int i = 0; i < 3; i++) a[i] = trace_site_a(100);
        for (int i = 0; i < 2; i++) b[i] = trace_site_b(100);
        phn_snapshot* s = take();
        phn_statistics* st = NULL;
        result = result && s && phn_snapshot_statistics(s, PHN_KEY_LINENO, 0, &st) == PHN_OK && phn_statistics_count(st) == 2;
        phn_statistic x0, x1;
        result = result && phn_statistics_get(st, 0, &x0) == PHN_OK && phn_statistics_get(st, 1, &x1) == PHN_OK &&
                 x0.size == 300 && x0.count == 3 && x1.size == 200 && x1.count == 2 && x0.nframe == 1 && x1.nframe == 1 &&
                 frame_is_this_exe(&x0.frames[0]) && frame_is_this_exe(&x1.frames[0]) &&
                 strcmp(x0.frames[0].filename, x1.frames[0].filename) == 0 &&
                 frame_inside(&x0.frames[0], (const void*)trace_site_a) && frame_inside(&x1.frames[0], (const void*)trace_site_b);
        if (!result && st && phn_statistics_count(st) >= 1) {
            fprintf(stderr, "\n  exe %s; site_a at +%#lx, site_b at +%#lx\n", g_exe, (unsigned long)exe_offset((const void*)trace_site_a),
                    (unsigned long)exe_offset((const void*)trace_site_b));
            for (int64_t i = 0; i < phn_statistics_count(st); i++) {
                phn_statistic x;
                if (phn_statistics_get(st, i, &x) == PHN_OK)
                    fprintf(stderr, "  group %lld: \"%s\" line %#x size %llu count %llu\n", (long long)i, x.frames[0].filename,
                            x.frames[0].lineno, (unsigned long long)x.size, (unsigned long long)x.count);
            }
        }
        phn_statistics_free(st);
        /* PHN_KEY_FILENAME: one group, this executable, line 0 */
        st = NULL;
        result = result && phn_snapshot_statistics(s, PHN_KEY_FILENAME, 0, &st) == PHN_OK && phn_statistics_count(st) == 1 &&
                 phn_statistics_get(st, 0, &x0) == PHN_OK && x0.size == 500 && x0.count == 5 && x0.nframe == 1 &&
                 x0.frames[0].lineno == 0 && frame_is_this_exe(&x0.frames[0]);
        phn_statistics_free(st);
        phn_snapshot_free(s);
        for (int i = 0; i < 3; i++) phn_mem_free(a[i]);
        for (int i = 0; i < 2; i++) phn_mem_free(b[i]);
    }
    CHECK_BODY("native frames, limit 5: more than one frame, the site first (most recent), then its caller; total_nframe >= nframe") {
        result = fresh_start(5);
        void* p = trace_site_b(117);
        phn_snapshot* s = take();
        phn_trace t;
        result = result && s && find_trace(s, 0, 117, &t) && t.nframe > 1 && t.nframe <= 5 && t.total_nframe >= t.nframe &&
                 frame_is_this_exe(&t.frames[0]) && frame_inside(&t.frames[0], (const void*)trace_site_b) &&
                 !frame_inside(&t.frames[1], (const void*)trace_site_b) && frame_is_this_exe(&t.frames[1]);
        if (!result && s && find_trace(s, 0, 117, &t)) {
            fprintf(stderr, "\n  nframe %u total %u; site_b at +%#lx\n", t.nframe, t.total_nframe,
                    (unsigned long)exe_offset((const void*)trace_site_b));
            for (uint32_t i = 0; i < t.nframe; i++) fprintf(stderr, "  frame %u: \"%s\" %#x\n", i, t.frames[i].filename, t.frames[i].lineno);
        }
        phn_snapshot_free(s);
        phn_mem_free(p);
    }
    CHECK_BODY("native frames, limit 2: total_nframe is the whole depth (site, test, main, libc start-up: > 2)") {
        result = fresh_start(2);
        void* p = trace_site_a(118);
        phn_snapshot* s = take();
        phn_trace t;
        result = result && s && find_trace(s, 0, 118, &t) && t.nframe == 2 && t.total_nframe > 2;
        if (!result && s && find_trace(s, 0, 118, &t)) fprintf(stderr, "\n  nframe %u total_nframe %u\n", t.nframe, t.total_nframe);
        phn_snapshot_free(s);
        phn_mem_free(p);
    }
    CHECK_BODY("native frames, limit 1: the stack is not walked, total_nframe is 1 (phn_trace.h)") {
        result = fresh_start(1);
        void* p = trace_site_a(119);
        phn_snapshot* s = take();
        phn_trace t;
        result = result && s && find_trace(s, 0, 119, &t) && t.nframe == 1 && t.total_nframe == 1;
        if (!result && s && find_trace(s, 0, 119, &t)) fprintf(stderr, "\n  nframe %u total_nframe %u\n", t.nframe, t.total_nframe);
        phn_snapshot_free(s);
        phn_mem_free(p);
    }
    phn_tracemalloc_stop();
}

/* ------------------------------------------------------------------ filters */

typedef struct filter_case {
    const char* what;
    int n;
    phn_filter f[3];
    uint64_t want;   /* sum of the sizes kept: each trace has its own bit */
} filter_case;

static void test_filters(void) {
    CHECK_BODY("filters: set up 7 traces with distinct power-of-two sizes") { result = fresh_start(4) && prov_install(); }
    prov1("app.py", 10);
    void* t1 = phn_mem_malloc(1);
    prov1("app.py", 20);
    void* t2 = phn_obj_malloc(2);
    prov_frames(2, "lib/util.py", 5, "app.py", 30, NULL, 0);
    void* t3 = phn_raw_malloc(4);
    prov1("lib/uti1.py", 7);
    void* t4 = phn_mem_malloc(8);
    prov1("mod.pyc", 1);
    void* t5 = phn_mem_malloc(16);
    int ext;
    prov1("ext.c", 1);
    int32_t trc = phn_tracemalloc_track(5, (uintptr_t)U(&ext), 32);
    prov_frames(0, NULL, 0, NULL, 0, NULL, 0);
    void* t7 = phn_mem_malloc(64);
    phn_snapshot* s = take();
    CHECK_BODY("filters: the snapshot holds the 7 traces (sum 127)") {
        int64_t n = -1;
        result = trc == 0 && s && snapshot_sum(s, -1, &n) == 127 && n == 7;
    }
    const int32_t ANY = PHN_FILTER_ANY_LINE;
    const int64_t ALL = PHN_FILTER_ANY_DOMAIN;
    const filter_case cases[] = {
        {"no filter: a copy", 0, {{0}}, 127},
        {"Filter(True, 'app.py'): most recent frame only", 1, {{1, 0, "app.py", ANY, ALL}}, 1 + 2},
        {"Filter(True, 'app.py', all_frames=True)", 1, {{1, 1, "app.py", ANY, ALL}}, 1 + 2 + 4},
        {"Filter(True, 'app.py', lineno=20)", 1, {{1, 0, "app.py", 20, ALL}}, 2},
        {"Filter(True, 'app.py', lineno=30, all_frames=True)", 1, {{1, 1, "app.py", 30, ALL}}, 4},
        {"Filter(True, '*.py'): .pyc is normalised to .py", 1, {{1, 0, "*.py", ANY, ALL}}, 1 + 2 + 4 + 8 + 16},
        {"Filter(True, 'mod.pyc'): the pattern is normalised too", 1, {{1, 0, "mod.pyc", ANY, ALL}}, 16},
        {"Filter(True, 'lib/uti?.py')", 1, {{1, 0, "lib/uti?.py", ANY, ALL}}, 4 + 8},
        {"Filter(True, 'lib/uti[0-9].py')", 1, {{1, 0, "lib/uti[0-9].py", ANY, ALL}}, 8},
        {"Filter(True, 'lib/uti[!0-9].py')", 1, {{1, 0, "lib/uti[!0-9].py", ANY, ALL}}, 4},
        {"Filter(True, '*'): '*' also matches '/' and '<unknown>'", 1, {{1, 0, "*", ANY, ALL}}, 127},
        {"Filter(True, 'app.p'): the whole name must match", 1, {{1, 0, "app.p", ANY, ALL}}, 0},
        {"Filter(False, 'app.py')", 1, {{0, 0, "app.py", ANY, ALL}}, 127 - 3},
        {"Filter(False, 'app.py', all_frames=True)", 1, {{0, 1, "app.py", ANY, ALL}}, 127 - 7},
        {"Filter(False, 'app.py', lineno=10)", 1, {{0, 0, "app.py", 10, ALL}}, 127 - 1},
        {"two inclusive filters: either matches", 2, {{1, 0, "app.py", ANY, ALL}, {1, 0, "*.c", ANY, ALL}}, 3 + 32},
        {"inclusive '*.py' and exclusive 'lib/*'", 2, {{1, 0, "*.py", ANY, ALL}, {0, 0, "lib/*", ANY, ALL}}, 31 - 12},
        {"DomainFilter(True, 5)", 1, {{1, 0, NULL, ANY, 5}}, 32},
        {"DomainFilter(False, 5)", 1, {{0, 0, NULL, ANY, 5}}, 127 - 32},
        {"DomainFilter(True, 6): nothing", 1, {{1, 0, NULL, ANY, 6}}, 0},
        {"Filter(True, '*', domain=0)", 1, {{1, 0, "*", ANY, 0}}, 127 - 32},
        {"Filter(True, '*.c', domain=0): nothing", 1, {{1, 0, "*.c", ANY, 0}}, 0},
        {"Filter(False, '*.c', domain=5)", 1, {{0, 0, "*.c", ANY, 5}}, 127 - 32},
        {"Filter(False, '*.py', domain=5): keeps everything (no .py in domain 5)", 1, {{0, 0, "*.py", ANY, 5}}, 127},
        {"Filter(True, '<unknown>', lineno=0)", 1, {{1, 0, "<unknown>", 0, ALL}}, 64},
        {"Filter(False, '<unknown>')", 1, {{0, 0, "<unknown>", ANY, ALL}}, 63},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[200];
        snprintf(name, sizeof name, "filter_traces: %s", cases[i].what);
        CHECK_BODY(name) {
            phn_snapshot* f = NULL;
            int32_t rc = s ? phn_snapshot_filter_traces(s, cases[i].n ? cases[i].f : NULL, cases[i].n, &f) : -99;
            uint64_t got = rc == PHN_OK ? snapshot_sum(f, -1, NULL) : UINT64_MAX;
            result = rc == PHN_OK && got == cases[i].want && phn_snapshot_traceback_limit(f) == 4;
            if (!result) fprintf(stderr, "\n  rc %d (%s), kept sum %llu, expected %llu\n", rc, rc ? phn_last_error_message() : "",
                                 (unsigned long long)got, (unsigned long long)cases[i].want);
            phn_snapshot_free(f);
        }
    }
    CHECK_BODY("filter_traces: a filter of the filtered snapshot (chained) and the original unchanged") {
        phn_filter a = {1, 0, "*.py", ANY, ALL}, b = {0, 0, "app.py", ANY, ALL};
        phn_snapshot *f1 = NULL, *f2 = NULL;
        result = s && phn_snapshot_filter_traces(s, &a, 1, &f1) == PHN_OK && phn_snapshot_filter_traces(f1, &b, 1, &f2) == PHN_OK &&
                 snapshot_sum(f2, -1, NULL) == 4 + 8 + 16 && snapshot_sum(s, -1, NULL) == 127;
        phn_snapshot_free(f1);
        phn_snapshot_free(f2);
    }
    CHECK_BODY("filter_traces: bad arguments are PHN_EINVAL (negative count, NULL filters with count 1, no pattern and any domain, NULL out)") {
        phn_snapshot* f = NULL;
        phn_filter none = {1, 0, NULL, ANY, ALL};
        phn_filter ok1 = {1, 0, "*", ANY, ALL};
        result = s && phn_snapshot_filter_traces(s, &ok1, -1, &f) == PHN_EINVAL && f == NULL &&
                 phn_snapshot_filter_traces(s, NULL, 1, &f) == PHN_EINVAL && f == NULL &&
                 phn_snapshot_filter_traces(s, &none, 1, &f) == PHN_EINVAL && f == NULL &&
                 phn_snapshot_filter_traces(s, &ok1, 1, NULL) == PHN_EINVAL;
    }

    /* ---- dump / load */
    char path[] = "/tmp/phn-trace-snapshot-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    phn_snapshot* loaded = NULL;
    CHECK_BODY("dump to a file and load it back: equal traces (domain, size, frames, total_nframe) and traceback limit") {
        char* a = s ? traces_text(s) : NULL;
        result = fd >= 0 && s && phn_snapshot_dump(s, path) == PHN_OK && phn_snapshot_load(path, &loaded) == PHN_OK && loaded &&
                 phn_snapshot_traceback_limit(loaded) == 4 && phn_snapshot_trace_count(loaded) == 7 && a &&
                 text_is(traces_text(loaded), a);
        free(a);
    }
    CHECK_BODY("statistics of the loaded snapshot equal the original's (every key, cumulative or not) and compare_to gives 0 diffs") {
        for (int32_t k = PHN_KEY_FILENAME; k <= PHN_KEY_TRACEBACK; k++)
            for (int32_t cu = 0; cu <= (k == PHN_KEY_TRACEBACK ? 0 : 1); cu++) {
                char* want = s ? stats_text(s, NULL, k, cu) : NULL;
                result = result && loaded && want && text_is(stats_text(loaded, NULL, k, cu), want);
                free(want);
            }
        char* d = loaded ? stats_text(loaded, s, PHN_KEY_TRACEBACK, 0) : NULL;
        result = result && d && strstr(d, "diff=+0/+0") && !strstr(d, "diff=-") && !strstr(d, "/+1") && !strstr(d, "/-");
        free(d);
    }
    CHECK_BODY("the loaded snapshot outlives the stop of tracing and the free of the original") {
        phn_snapshot_free(s);
        s = NULL;
        phn_tracemalloc_stop();
        phn_trace t;
        result = loaded && phn_snapshot_trace_count(loaded) == 7 && find_trace(loaded, 5, 32, &t) &&
                 strcmp(t.frames[0].filename, "ext.c") == 0 && find_trace(loaded, 0, 16, &t) &&
                 strcmp(t.frames[0].filename, "mod.pyc") == 0;
        phn_filter f = {1, 0, "lib/*", ANY, ALL};
        phn_snapshot* fl = NULL;
        result = result && phn_snapshot_filter_traces(loaded, &f, 1, &fl) == PHN_OK && snapshot_sum(fl, -1, NULL) == 12;
        phn_snapshot_free(fl);
    }
    CHECK_BODY("load: a missing file, a file that is not a snapshot and a truncated snapshot fail (< 0, *out NULL), no crash") {
        phn_snapshot* x = (phn_snapshot*)(uintptr_t)0x1234;
        result = phn_snapshot_load("/nonexistent/dir/snap.bin", &x) < 0 && x == NULL;
        FILE* f = fopen(path, "wb");
        if (f) {
            fputs("this is not a snapshot at all, just some text\n", f);
            fclose(f);
        }
        x = (phn_snapshot*)(uintptr_t)0x1234;
        result = result && f && phn_snapshot_load(path, &x) < 0 && x == NULL;
        /* a valid dump cut in half */
        if (loaded && phn_snapshot_dump(loaded, path) == PHN_OK) {
            struct stat st;
            if (stat(path, &st) == 0 && truncate(path, st.st_size / 2) == 0) {
                x = (phn_snapshot*)(uintptr_t)0x1234;
                result = result && phn_snapshot_load(path, &x) < 0 && x == NULL;
            } else {
                result = false;
            }
        } else {
            result = false;
        }
    }
    CHECK_BODY("dump into a missing directory fails (< 0); NULL path or snapshot: PHN_EINVAL") {
        result = loaded && phn_snapshot_dump(loaded, "/nonexistent/dir/snap.bin") < 0 &&
                 phn_snapshot_dump(loaded, NULL) == PHN_EINVAL && phn_snapshot_dump(NULL, path) == PHN_EINVAL &&
                 phn_snapshot_load(NULL, &loaded) == PHN_EINVAL && phn_snapshot_load(path, NULL) == PHN_EINVAL;
    }
    unlink(path);
    phn_snapshot_free(loaded);
    phn_snapshot_free(s);
    phn_tracemalloc_stop();
    prov_remove();
    phn_mem_free(t1);
    phn_obj_free(t2);
    phn_raw_free(t3);
    phn_mem_free(t4);
    phn_mem_free(t5);
    phn_mem_free(t7);
}

/* ------------------------------------------------------------------ goal 8: exactness */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next_random(void) {   /* splitmix64 */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static size_t random_size(uint64_t r) {
    switch (r % 16) {
        case 0: return 0;
        case 1: return 513 + (r >> 8) % 4000;
        case 2: return 100000 + (r >> 8) % 1000;
        default: return 1 + (r >> 8) % 512;
    }
}
static void* d_malloc(int d, size_t n) { return d == 0 ? phn_raw_malloc(n) : d == 1 ? phn_mem_malloc(n) : phn_obj_malloc(n); }
static void* d_calloc(int d, size_t a, size_t b) { return d == 0 ? phn_raw_calloc(a, b) : d == 1 ? phn_mem_calloc(a, b) : phn_obj_calloc(a, b); }
static void* d_realloc(int d, void* p, size_t n) { return d == 0 ? phn_raw_realloc(p, n) : d == 1 ? phn_mem_realloc(p, n) : phn_obj_realloc(p, n); }
static void d_free(int d, void* p) { if (d == 0) phn_raw_free(p); else if (d == 1) phn_mem_free(p); else phn_obj_free(p); }

enum { SLOTS = 600, TRACKED = 32 };
typedef struct live { void* p; size_t size; int domain; } live;

static void test_exact_model(void) {
    static live slots[SLOTS];
    static size_t tracked[TRACKED];
    static int tracked_on[TRACKED];
    static char tracked_mem[TRACKED];
    memset(slots, 0, sizeof slots);
    memset(tracked_on, 0, sizeof tracked_on);
    size_t model = 0, model_peak = 0;
    long first_bad = -1, ops = 0;
    size_t bad_cur = 0, bad_peak = 0, bad_model = 0, bad_model_peak = 0;
    const char* bad_op = "";
    size_t mem0 = 0;
    CHECK_BODY("goal 8: 40000 random malloc/calloc/realloc/free over RAW/MEM/OBJ and track/untrack: current == the model's live sum and peak == the model's peak after every operation") {
        result = fresh_start(1);
        mem0 = phn_tracemalloc_get_tracemalloc_memory();
        for (ops = 0; ops < 40000; ops++) {
            uint64_t r = next_random();
            int i = (int)((r >> 40) % SLOTS);
            live* s = &slots[i];
            const char* op;
            switch (r % 11) {
            case 0: case 1: case 2: {   /* malloc */
                if (s->p) { d_free(s->domain, s->p); model -= s->size; s->p = NULL; op = "free"; break; }
                int d = (int)((r >> 8) % 3);
                size_t n = random_size(r >> 12);
                void* p = d_malloc(d, n);
                if (p) { s->p = p; s->size = n; s->domain = d; model += n; }
                op = "malloc";
                break;
            }
            case 3: {   /* calloc */
                if (s->p) { d_free(s->domain, s->p); model -= s->size; s->p = NULL; op = "free"; break; }
                int d = (int)((r >> 8) % 3);
                size_t a = (r >> 12) % 64, b = (r >> 20) % 64;
                void* p = d_calloc(d, a, b);
                if (p) { s->p = p; s->size = a * b; s->domain = d; model += a * b; }
                op = "calloc";
                break;
            }
            case 4: case 5: case 6: {   /* realloc (also of NULL) */
                int d = s->p ? s->domain : (int)((r >> 8) % 3);
                size_t n = random_size(r >> 12);
                void* p = d_realloc(d, s->p, n);
                if (p) { model = model - (s->p ? s->size : 0) + n; s->p = p; s->size = n; s->domain = d; }
                op = "realloc";
                break;
            }
            case 7: case 8: {   /* free */
                if (s->p) { d_free(s->domain, s->p); model -= s->size; s->p = NULL; }
                op = "free";
                break;
            }
            case 9: {   /* track / untrack in domain 7 */
                int k = (int)((r >> 8) % TRACKED);
                uintptr_t addr = (uintptr_t)U(&tracked_mem[k]);
                if ((r >> 16) % 3 == 0) {
                    if (phn_tracemalloc_untrack(7, addr) == 0 && tracked_on[k]) { model -= tracked[k]; tracked_on[k] = 0; }
                    op = "untrack";
                } else {
                    size_t n = (r >> 20) % 5000;
                    if (phn_tracemalloc_track(7, addr, n) == 0) {
                        model = model - (tracked_on[k] ? tracked[k] : 0) + n;
                        tracked[k] = n;
                        tracked_on[k] = 1;
                    }
                    op = "track";
                }
                break;
            }
            default: {   /* now and then: reset the peak */
                if ((r >> 8) % 50 == 0) { phn_tracemalloc_reset_peak(); model_peak = model; op = "reset_peak"; }
                else { op = "nothing"; }
                break;
            }
            }
            if (model > model_peak) model_peak = model;
            size_t cur = 0, peak = 0;
            phn_tracemalloc_get_traced_memory(&cur, &peak);
            if (cur != model || peak != model_peak) {
                first_bad = ops;
                bad_cur = cur; bad_peak = peak; bad_model = model; bad_model_peak = model_peak; bad_op = op;
                break;
            }
        }
        result = result && first_bad < 0;
        if (first_bad >= 0)
            fprintf(stderr, "\n  after operation %ld (%s): current %zu peak %zu, model %zu peak %zu\n", first_bad, bad_op, bad_cur,
                    bad_peak, bad_model, bad_model_peak);
    }
    CHECK_BODY("goal 8: a snapshot of the end state has one trace per live block (and tracked address), sizes summing to the model") {
        long live_n = 0;
        for (int i = 0; i < SLOTS; i++) live_n += slots[i].p != NULL;
        for (int k = 0; k < TRACKED; k++) live_n += tracked_on[k];
        phn_snapshot* s = take();
        int64_t n = -1;
        result = s && snapshot_sum(s, -1, &n) == model && n == live_n;
        phn_snapshot_free(s);
    }
    CHECK_BODY("goal 8: the tracer's own memory is not traced: get_tracemalloc_memory grew, traced memory equals the model") {
        size_t mem1 = phn_tracemalloc_get_tracemalloc_memory();
        result = mem1 > mem0 && traced_current() == model;
        if (!result) fprintf(stderr, "\n  tracemalloc memory %zu -> %zu, current %zu, model %zu\n", mem0, mem1, traced_current(), model);
    }
    CHECK_BODY("goal 8: 50000 more blocks grow the tracer's tables; the traced memory is exactly their sizes") {
        enum { N = 50000 };
        void** v = (void**)malloc(N * sizeof(void*));
        size_t m0 = phn_tracemalloc_get_tracemalloc_memory(), base = traced_current();
        for (int i = 0; v && i < N; i++) v[i] = phn_obj_malloc(8 + (size_t)(i % 3));
        size_t m1 = phn_tracemalloc_get_tracemalloc_memory();
        size_t want = base;
        for (int i = 0; i < N; i++) want += 8 + (size_t)(i % 3);
        result = v && m1 > m0 && traced_current() == want;
        for (int i = 0; v && i < N; i++) phn_obj_free(v[i]);
        result = result && traced_current() == base;
        free(v);
    }
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p) d_free(slots[i].domain, slots[i].p);
    CHECK_BODY("goal 8: after freeing every block, only the tracked addresses remain; clear_traces and stop give (0, 0)") {
        size_t t = 0;
        for (int k = 0; k < TRACKED; k++) t += tracked_on[k] ? tracked[k] : 0;
        result = traced_current() == t && phn_tracemalloc_clear_traces() == PHN_OK && traced_current() == 0 && traced_peak() == 0 &&
                 phn_tracemalloc_stop() == PHN_OK && traced_current() == 0 && traced_peak() == 0;
    }
}

/* Several threads at once: each keeps its own model; at the end the traced memory is the sum. */
typedef struct worker { pthread_t th; uint64_t seed; int small; int ops; size_t live_sum; int errors; live slots[200]; } worker;
/* small: only 16..48-byte blocks, mostly reallocs that move between size classes, so that
 * an address freed by one thread's realloc is at once handed to another thread */
static size_t worker_size(const worker* w, uint64_t z) { return w->small ? 16 + 16 * (size_t)(z % 3) - (size_t)((z >> 2) & 7) : random_size(z); }
static void* worker_main(void* arg) {
    worker* w = (worker*)arg;
    uint64_t s = w->seed;
    for (int n = 0; n < w->ops; n++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        live* sl = &w->slots[(z >> 32) % 200];
        if (sl->p && (z & 3) != 0) {
            if ((z & 3) == 1 || (w->small && (z & 3) == 2)) {
                size_t m = worker_size(w, z >> 8);
                void* p = d_realloc(sl->domain, sl->p, m);
                if (p) { w->live_sum = w->live_sum - sl->size + m; sl->p = p; sl->size = m; }
            } else {
                d_free(sl->domain, sl->p);
                w->live_sum -= sl->size;
                sl->p = NULL;
            }
        } else if (!sl->p) {
            int d = w->small ? PHN_DOMAIN_MEM : (int)((z >> 4) % 3);
            size_t m = worker_size(w, z >> 8);
            void* p = d_malloc(d, m);
            if (!p) { w->errors++; continue; }
            sl->p = p; sl->size = m; sl->domain = d;
            w->live_sum += m;
        }
    }
    return NULL;
}

static void test_exact_threads(int small) {
    static worker w[4];
    memset(w, 0, sizeof w);
    CHECK_BODY(small ? "goal 8: 4 threads reallocating 16..48-byte MEM blocks between size classes (addresses freed by a moving realloc are reused at once by other threads): the traced memory is the sum of their live sizes"
                     : "goal 8: 4 threads of random traffic over the three domains (snapshots taken meanwhile): the traced memory is the sum of their live sizes") {
        result = fresh_start(1);
        int created = 0;
        for (int i = 0; i < 4; i++) {
            w[i].seed = 1000 + (uint64_t)i * 7919;
            w[i].small = small;
            w[i].ops = small ? 1000000 : 30000;
            if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) == 0) created++;
        }
        int snaps = 0;
        for (int k = 0; k < 20; k++) {
            phn_snapshot* s = take();
            if (s) {
                phn_statistics* st = NULL;
                if (phn_snapshot_statistics(s, PHN_KEY_LINENO, 0, &st) == PHN_OK) snaps++;
                phn_statistics_free(st);
            }
            phn_snapshot_free(s);
        }
        for (int i = 0; i < created; i++) pthread_join(w[i].th, NULL);
        size_t sum = 0;
        int errors = 0;
        for (int i = 0; i < 4; i++) { sum += w[i].live_sum; errors += w[i].errors; }
        size_t cur = traced_current();
        result = result && created == 4 && errors == 0 && snaps == 20 && cur == sum && traced_peak() >= cur;
        if (!result) fprintf(stderr, "\n  created %d errors %d snapshots %d current %zu model %zu\n", created, errors, snaps, cur, sum);
        phn_snapshot* s = take();
        result = result && s && snapshot_sum(s, -1, NULL) == sum;
        phn_snapshot_free(s);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 200; j++)
                if (w[i].slots[j].p) d_free(w[i].slots[j].domain, w[i].slots[j].p);
        result = result && traced_current() == 0;
        phn_tracemalloc_stop();
    }
}

/* ------------------------------------------------------------------ the traced heap */
/* Traced blocks of 1..496 bytes over pymalloc keep their trace in a 16-byte header before
 * the data (Core/Pymalloc/TracedHeap.cs). Every path that later meets such a block: free
 * and realloc while tracing and after it, calloc, clear, stop and start, track/untrack of
 * addresses in and around such blocks, a user arena allocator that calls back. */

enum { TH_SIZES = 512, TH_KEEP = 200 };

static void test_traced_heap_sizes(void) {
    static void* mem[TH_SIZES + 1];
    static void* obj[TH_SIZES + 1];
    CHECK_BODY("traced heap: every size 1..512 on MEM and OBJ (both sides of 496): current is the sum after each malloc and each free, the snapshot has one trace per block, the data is the caller's") {
        result = fresh_start(1);
        size_t sum = 0;
        for (size_t n = 1; n <= TH_SIZES && result; n++) {
            mem[n] = phn_mem_malloc(n);
            obj[n] = phn_obj_malloc(n);
            result = mem[n] && obj[n];
            if (!result) break;
            fill_pattern(mem[n], n, (unsigned)n);
            fill_pattern(obj[n], n, (unsigned)n + 7);
            sum += 2 * n;
            result = traced_current() == sum;
        }
        for (size_t n = 1; n <= TH_SIZES && result; n++)
            result = check_pattern(mem[n], n, (unsigned)n) && check_pattern(obj[n], n, (unsigned)n + 7);
        phn_snapshot* s = result ? take() : NULL;
        int64_t count = 0;
        result = result && s && snapshot_sum(s, 0, &count) == sum && count == 2 * TH_SIZES;
        phn_snapshot_free(s);
        for (size_t n = 1; n <= TH_SIZES && result; n++) {
            phn_mem_free(mem[n]);
            phn_obj_free(obj[n]);
            sum -= 2 * n;
            result = traced_current() == sum;
        }
        result = result && traced_current() == 0 && phn_validate() == PHN_OK;
        phn_tracemalloc_stop();
    }
    CHECK_BODY("traced heap: calloc of 1..496 bytes is zeroed, also in a block just freed dirty; current exact") {
        result = fresh_start(1);
        for (size_t n = 1; n <= 496 && result; n += 5) {
            unsigned char* p = phn_mem_malloc(n);
            result = p != NULL;
            if (!result) break;
            memset(p, 0xAB, n);
            phn_mem_free(p);
            unsigned char* q = phn_obj_calloc(1, n);
            unsigned char* r = phn_mem_calloc(n, 1);
            result = q && r && all_zero(q, n) && all_zero(r, n) && traced_current() == 2 * n;
            phn_obj_free(q);
            phn_mem_free(r);
            result = result && traced_current() == 0;
        }
        phn_tracemalloc_stop();
    }
}

static void test_traced_heap_realloc(void) {
    CHECK_BODY("traced heap: realloc keeps a block while the new size fits it less its header and shrinks it by under a quarter (100 -> 90 -> 112), else moves it with its data (-> 113, -> 600, -> 10); current is the new size each time") {
        result = fresh_start(1);
        unsigned char* p = phn_mem_malloc(100);
        result = result && p && traced_current() == 100;
        if (p) fill_pattern(p, 100, 3);
        unsigned char* q = result ? phn_mem_realloc(p, 90) : NULL;
        result = result && q == p && traced_current() == 90 && check_pattern(q, 90, 3);
        unsigned char* q2 = result ? phn_mem_realloc(q, 112) : NULL;
        result = result && q2 == q && traced_current() == 112 && check_pattern(q2, 90, 3);
        unsigned char* q3 = result ? phn_mem_realloc(q2, 113) : NULL;
        result = result && q3 && q3 != q2 && traced_current() == 113 && check_pattern(q3, 90, 3);
        unsigned char* q4 = result ? phn_mem_realloc(q3, 600) : NULL;
        result = result && q4 && traced_current() == 600 && check_pattern(q4, 90, 3);
        unsigned char* q5 = result ? phn_mem_realloc(q4, 10) : NULL;
        result = result && q5 && traced_current() == 10 && check_pattern(q5, 10, 3);
        phn_mem_free(q5);
        result = result && traced_current() == 0 && phn_validate() == PHN_OK;
        phn_tracemalloc_stop();
    }
    CHECK_BODY("traced heap: a traced block reallocated after tracing stopped keeps its data (in place and moving), then frees; the heap is valid") {
        result = fresh_start(1);
        unsigned char* a = phn_obj_malloc(200);
        unsigned char* b = phn_obj_malloc(200);
        result = result && a && b;
        if (result) { fill_pattern(a, 200, 11); fill_pattern(b, 200, 12); }
        phn_tracemalloc_stop();
        unsigned char* a2 = result ? phn_obj_realloc(a, 190) : NULL;
        unsigned char* b2 = result ? phn_obj_realloc(b, 5000) : NULL;
        result = result && a2 == a && b2 && check_pattern(a2, 190, 11) && check_pattern(b2, 200, 12);
        phn_obj_free(a2);
        phn_obj_free(b2);
        result = result && phn_validate() == PHN_OK;
    }
}

/* One call site, so one interned traceback however the caller's loops are compiled (and
 * not a tail call, whose return address would be the caller's). */
static __attribute__((noinline)) void* one_call_site_malloc64(void) {
    void* p = phn_mem_malloc(64);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static void test_traced_heap_lifetimes(void) {
    static void* keep[TH_KEEP];
    phn_stats before;
    CHECK_BODY("traced heap: blocks traced, tracing stopped, then freed (MEM and OBJ, some reallocated first): pymalloc's blocks in use come back to where they were; the heap is valid") {
        phn_tracemalloc_stop();
        result = stats_get(&before) == PHN_OK && fresh_start(1);
        for (int i = 0; i < TH_KEEP && result; i++) {
            keep[i] = (i & 1) ? phn_obj_malloc(1 + (size_t)i * 2) : phn_mem_malloc(1 + (size_t)i * 2);
            result = keep[i] != NULL;
        }
        phn_tracemalloc_stop();
        for (int i = 0; i < TH_KEEP && result; i += 3)
            result = (keep[i] = (i & 1) ? phn_obj_realloc(keep[i], 3 + (size_t)i) : phn_mem_realloc(keep[i], 3 + (size_t)i)) != NULL;
        for (int i = 0; i < TH_KEEP && result; i++) {
            if (i & 1) phn_obj_free(keep[i]); else phn_mem_free(keep[i]);
        }
        phn_stats after = stats_now();
        result = result && stats_blocks_in_use(&after) == stats_blocks_in_use(&before) && phn_validate() == PHN_OK;
        if (!result)
            fprintf(stderr, "\n  blocks in use %llu before, %llu after\n", (unsigned long long)stats_blocks_in_use(&before),
                    (unsigned long long)stats_blocks_in_use(&after));
    }
    CHECK_BODY("traced heap: clear_traces with live traced blocks: current 0, empty snapshot; freeing them leaves 0; a new block is counted alone; the tracer's memory counts 16 bytes per header trace") {
        result = fresh_start(1);
        result = result && (keep[0] = one_call_site_malloc64()) != NULL;   /* its traceback interned */
        size_t memory1 = phn_tracemalloc_get_tracemalloc_memory();
        for (int i = 1; i < TH_KEEP && result; i++)
            result = (keep[i] = one_call_site_malloc64()) != NULL;
        size_t grown = phn_tracemalloc_get_tracemalloc_memory() - memory1;
        for (int i = 1; i < TH_KEEP && result; i += 2) phn_mem_free(keep[i]);
        size_t shrunk = memory1 + grown - phn_tracemalloc_get_tracemalloc_memory();
        for (int i = 1; i < TH_KEEP && result; i += 2) result = (keep[i] = one_call_site_malloc64()) != NULL;
        result = result && grown == 16 * (TH_KEEP - 1) && shrunk == 16 * (TH_KEEP / 2);
        if (!result) fprintf(stderr, "\n  tracer memory grew %zu, shrank %zu\n", grown, shrunk);
        result = result && traced_current() == 64 * TH_KEEP && phn_tracemalloc_clear_traces() == PHN_OK && traced_current() == 0;
        phn_snapshot* s = result ? take() : NULL;
        result = result && s && phn_snapshot_trace_count(s) == 0;
        phn_snapshot_free(s);
        for (int i = 0; i < TH_KEEP; i++) phn_mem_free(keep[i]);
        void* fresh = phn_mem_malloc(30);
        result = result && fresh && traced_current() == 30;
        s = result ? take() : NULL;
        int64_t n = 0;
        result = result && s && snapshot_sum(s, -1, &n) == 30 && n == 1;
        phn_snapshot_free(s);
        phn_mem_free(fresh);
        result = result && traced_current() == 0 && phn_validate() == PHN_OK;
        phn_tracemalloc_stop();
    }
    CHECK_BODY("traced heap: stop and start again with live traced blocks: no trace of them (current 0, empty snapshot); freeing them changes nothing; new ones count") {
        result = fresh_start(1);
        for (int i = 0; i < TH_KEEP && result; i++)
            result = (keep[i] = phn_obj_malloc(48)) != NULL;
        result = result && fresh_start(1);
        phn_snapshot* s = result ? take() : NULL;
        result = result && s && phn_snapshot_trace_count(s) == 0;
        phn_snapshot_free(s);
        void* fresh = phn_obj_malloc(48);
        for (int i = 0; i < TH_KEEP; i++) phn_obj_free(keep[i]);
        result = result && fresh && traced_current() == 48;
        phn_obj_free(fresh);
        result = result && traced_current() == 0 && phn_validate() == PHN_OK;
        phn_tracemalloc_stop();
    }
}

static void test_traced_heap_track(void) {
    CHECK_BODY("traced heap: untrack(0, p) of a traced block removes its trace; track(0, p, 7) puts one back (a second replaces it); freeing p removes it") {
        result = fresh_start(1);
        unsigned char* p = phn_mem_malloc(40);
        result = result && p && traced_current() == 40 && phn_tracemalloc_untrack(PHN_TRACE_DOMAIN_DEFAULT, U(p)) == 0 &&
                 traced_current() == 0;
        phn_snapshot* s = result ? take() : NULL;
        result = result && s && phn_snapshot_trace_count(s) == 0;
        phn_snapshot_free(s);
        result = result && phn_tracemalloc_track(PHN_TRACE_DOMAIN_DEFAULT, U(p), 7) == 0 && traced_current() == 7 &&
                 phn_tracemalloc_track(PHN_TRACE_DOMAIN_DEFAULT, U(p), 9) == 0 && traced_current() == 9;
        phn_mem_free(p);
        result = result && traced_current() == 0 && phn_validate() == PHN_OK;
        phn_tracemalloc_stop();
    }
    CHECK_BODY("traced heap: track and untrack of addresses inside and around a traced block (p-16, p-8, p+8, p+16) are traces of their own: exact, and the block's data and the heap stay intact") {
        result = fresh_start(1);
        unsigned char* p = phn_mem_malloc(64);
        result = result && p;
        if (p) fill_pattern(p, 64, 21);
        uintptr_t around[4] = {U(p) - 16, U(p) - 8, U(p) + 8, U(p) + 16};
        for (int i = 0; i < 4 && result; i++)
            result = phn_tracemalloc_track(PHN_TRACE_DOMAIN_DEFAULT, around[i], 100 + (size_t)i) == 0;
        result = result && traced_current() == 64 + 100 + 101 + 102 + 103 && check_pattern(p, 64, 21);
        for (int i = 0; i < 4 && result; i++)
            result = phn_tracemalloc_untrack(PHN_TRACE_DOMAIN_DEFAULT, around[i]) == 0;
        result = result && traced_current() == 64 && check_pattern(p, 64, 21) && phn_validate() == PHN_OK;
        phn_mem_free(p);
        result = result && traced_current() == 0 && phn_validate() == PHN_OK;
        phn_tracemalloc_stop();
    }
    CHECK_BODY("traced heap: track(0, q, 7) of a freed traced block's address is a trace of its own (the free list intact); the block's next allocation at q replaces it (one trace); the heap is valid") {
        result = fresh_start(1);
        void* q = phn_mem_malloc(40);
        phn_mem_free(q);
        result = result && q && traced_current() == 0 && phn_tracemalloc_track(PHN_TRACE_DOMAIN_DEFAULT, U(q), 7) == 0 &&
                 traced_current() == 7 && phn_validate() == PHN_OK;
        void* r = phn_mem_malloc(40);
        result = result && r == q && traced_current() == 40;
        phn_snapshot* s = result ? take() : NULL;
        int64_t n = 0;
        result = result && s && snapshot_sum(s, -1, &n) == 40 && n == 1;
        phn_snapshot_free(s);
        phn_mem_free(r);
        void* t = phn_mem_malloc(24);   /* the managed path, while the stray trace is counted */
        result = result && t && traced_current() == 24;
        phn_mem_free(t);
        result = result && traced_current() == 0 && phn_tracemalloc_clear_traces() == PHN_OK && phn_validate() == PHN_OK;
        phn_tracemalloc_stop();
    }
}

/* An arena allocator that calls the library back (traced allocations, tracemalloc's queries)
 * from inside pymalloc's slow paths; not from inside itself (its own allocations may need an
 * arena). */
typedef struct calling_arenas {
    phn_arena_allocator prev;
    long allocs, frees, failures;
    int inside;
} calling_arenas;

static void call_back_into_library(calling_arenas* a) {
    if (a->inside) return;
    a->inside = 1;
    void* p = phn_mem_malloc(24);
    void* q = phn_obj_malloc(300);
    size_t cur = 0, peak = 0;
    phn_tracemalloc_get_traced_memory(&cur, &peak);
    if (!p || !q || phn_tracemalloc_get_tracemalloc_memory() == 0) a->failures++;
    phn_mem_free(p);
    phn_obj_free(q);
    a->inside = 0;
}
static void* PHN_CALL calling_alloc(void* ctx, size_t size) {
    calling_arenas* a = ctx;
    a->allocs++;
    call_back_into_library(a);
    return a->prev.alloc(a->prev.ctx, size);
}
static void PHN_CALL calling_free(void* ctx, void* ptr, size_t size) {
    calling_arenas* a = ctx;
    a->frees++;
    call_back_into_library(a);
    a->prev.free(a->prev.ctx, ptr, size);
}

static void test_traced_heap_arena_callbacks(void) {
    enum { BLOCKS = 30000 };
    static void* blocks[BLOCKS];
    static calling_arenas a;
    CHECK_BODY("traced heap: an arena allocator that makes traced allocations and asks tracemalloc while new arenas come and go (30000 traced blocks of 400 bytes, then freed): no deadlock, current exact, the heap is valid") {
        memset(&a, 0, sizeof a);
        result = phn_get_arena_allocator(&a.prev) == PHN_OK;
        phn_arena_allocator mine = {&a, calling_alloc, calling_free};
        result = result && fresh_start(1) && phn_set_arena_allocator(&mine) == PHN_OK;
        int made = 0;
        for (; made < BLOCKS && result; made++)
            result = (blocks[made] = phn_mem_malloc(400)) != NULL;
        result = result && traced_current() == (size_t)BLOCKS * 400;
        for (int i = 0; i < made; i++) phn_mem_free(blocks[i]);
        result = result && traced_current() == 0 && a.allocs > 5 && a.frees > 0 && a.failures == 0 && phn_validate() == PHN_OK;
        if (!result) fprintf(stderr, "\n  arena allocs %ld frees %ld failed callbacks %ld\n", a.allocs, a.frees, a.failures);
        phn_tracemalloc_stop();
        phn_set_arena_allocator(&a.prev);
    }
}

/* A frame provider that frees a traced block (untraced: it runs inside a traced call). */
static void* g_provider_frees;
static int32_t PHN_CALL freeing_provider(void* ctx, phn_frame* frames, int32_t max, int32_t* total) {
    (void)ctx;
    if (g_provider_frees) {
        phn_mem_free(g_provider_frees);
        g_provider_frees = NULL;
    }
    if (max < 1) return 0;
    frames[0].filename = "provider.py";
    frames[0].lineno = 1;
    *total = 1;
    return 1;
}

static void test_traced_heap_untraced_frees(void) {
    CHECK_BODY("traced heap: a traced block freed through pymalloc's own functions (phn_get_allocator's table, taken before tracing): its trace is forgotten (current 0), the heap is valid, and the block's next trace counts once") {
        phn_allocator pym;
        phn_tracemalloc_stop();
        result = phn_get_allocator(PHN_DOMAIN_MEM, &pym) == PHN_OK && fresh_start(1);
        void* p = phn_mem_malloc(100);
        result = result && p && traced_current() == 100;
        if (p) pym.free(pym.ctx, p);
        result = result && traced_current() == 0 && phn_validate() == PHN_OK;
        void* q = phn_mem_malloc(100);
        result = result && q == p && traced_current() == 100;
        phn_mem_free(q);
        result = result && traced_current() == 0 && phn_validate() == PHN_OK;
        phn_tracemalloc_stop();
    }
    CHECK_BODY("traced heap: a frame provider freeing a traced block (an untraced call): the trace goes with the block; the next traced allocations count once each") {
        result = fresh_start(1);
        void* p = phn_mem_malloc(64);
        g_provider_frees = p;
        result = result && p && traced_current() == 64 && phn_tracemalloc_set_frame_provider(freeing_provider, NULL) == PHN_OK;
        void* q = phn_mem_malloc(200);   /* the provider frees p while this call is traced */
        result = result && q && g_provider_frees == NULL && traced_current() == 200 && phn_validate() == PHN_OK;
        void* r = phn_mem_malloc(64);    /* p's block again */
        result = result && r == p && traced_current() == 264;
        phn_tracemalloc_set_frame_provider(NULL, NULL);
        phn_mem_free(q);
        phn_mem_free(r);
        result = result && traced_current() == 0 && phn_validate() == PHN_OK;
        phn_tracemalloc_stop();
    }
}

/* Pools move between the traced heap and the others while another thread tracks and untracks
 * addresses in and around freed blocks: nothing it does may touch a block. */
enum { NAMING_SLOTS = 512 };
static void* volatile g_recent[NAMING_SLOTS];
static volatile int g_naming_done;

static void* naming_thread(void* arg) {
    (void)arg;
    uint64_t x = 0x1234567;
    long n = 0;
    while (!g_naming_done) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uintptr_t a = U(g_recent[(x >> 33) % NAMING_SLOTS]);
        if (a == 0) continue;
        a += (uintptr_t)((x >> 20) % 3) * 16 - 16;   /* the address, 16 below or 16 above */
        phn_tracemalloc_track(PHN_TRACE_DOMAIN_DEFAULT, a, 1);
        phn_tracemalloc_untrack(PHN_TRACE_DOMAIN_DEFAULT, a);
        n++;
    }
    return (void*)n;
}

static void test_traced_heap_naming_race(void) {
    enum { LIVE = 2000, ROUNDS = 40 };
    static unsigned char* live[LIVE];
    static size_t sizes[LIVE];
    CHECK_BODY("traced heap: another thread tracks and untracks addresses of freed blocks while pools are emptied and taken again (traced and untraced sizes): every live block keeps its data, the traced memory is exact at the end, the heap is valid") {
        result = fresh_start(1);
        memset((void*)g_recent, 0, sizeof g_recent);
        g_naming_done = 0;
        pthread_t th;
        int started = result && pthread_create(&th, NULL, naming_thread, NULL) == 0;
        uint64_t x = 99;
        size_t k = 0;
        for (int round = 0; round < ROUNDS && result; round++) {
            for (int i = 0; i < LIVE && result; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                sizes[i] = 1 + (x >> 40) % 512;
                live[i] = phn_mem_malloc(sizes[i]);
                result = live[i] != NULL;
                if (result) fill_pattern(live[i], sizes[i], (unsigned)(round * LIVE + i));
            }
            for (int i = 0; i < LIVE && result; i++)
                result = check_pattern(live[i], sizes[i], (unsigned)(round * LIVE + i));
            for (int i = 0; i < LIVE && result; i++) {
                phn_mem_free(live[i]);
                g_recent[k++ % NAMING_SLOTS] = live[i];
            }
            if (round % 8 == 7 && round + 1 < ROUNDS) phn_tracemalloc_clear_traces();
        }
        g_naming_done = 1;
        void* named = NULL;
        if (started) pthread_join(th, &named);
        /* Every block freed, every named address untracked: no trace left, none on a free block. */
        size_t left = traced_current();
        result = result && started && named != NULL && left == 0 && phn_validate() == PHN_OK;
        if (!result) fprintf(stderr, "\n  traced memory left %zu, validate: %s\n", left, phn_validate() == PHN_OK ? "ok" : phn_last_error_message());
        phn_tracemalloc_clear_traces();
        void* p = phn_mem_malloc(48);
        result = result && p && traced_current() == 48;
        phn_mem_free(p);
        result = result && traced_current() == 0;
        phn_tracemalloc_stop();
    }
}

/* Another thread tracks the address of a block the main thread frees and allocates again at
 * once: a track that lands between a free's look at the header and the free itself must not
 * leave a trace on the free block (its size word becomes the free-list link). */
static void* volatile g_tracked_block;
static volatile int g_tracking_done;

static void* tracking_thread(void* arg) {
    (void)arg;
    long n = 0;
    while (!g_tracking_done) {
        void* p = g_tracked_block;
        if (p) { phn_tracemalloc_track(PHN_TRACE_DOMAIN_DEFAULT, U(p), 1); n++; }
    }
    return (void*)n;
}

static void test_traced_heap_track_during_free(int32_t nframe) {
    char name[256];
    snprintf(name, sizeof name, "traced heap (limit %d): another thread tracks a block while it is freed and allocated again, 100000 times: the traced memory stays that of one block (never a free-list pointer), 0 once it is untracked; the heap is valid", (int)nframe);
    CHECK_BODY(name) {
        result = fresh_start(nframe);
        g_tracked_block = NULL;
        g_tracking_done = 0;
        pthread_t th;
        int started = result && pthread_create(&th, NULL, tracking_thread, NULL) == 0;
        long bad = -1;
        size_t seen = 0;
        void* p = NULL;
        for (long i = 0; i < 100000 && started && bad < 0; i++) {
            p = phn_mem_malloc(40);
            size_t c = traced_current();
            if (!p || c > 41) { bad = i; seen = c; break; }
            g_tracked_block = p;
            phn_mem_free(p);
        }
        g_tracking_done = 1;
        void* tracks = NULL;
        if (started) pthread_join(th, &tracks);
        if (p) phn_tracemalloc_untrack(PHN_TRACE_DOMAIN_DEFAULT, U(p));
        result = result && started && bad < 0 && tracks != NULL && traced_current() == 0 && phn_validate() == PHN_OK;
        if (!result) fprintf(stderr, "\n  iteration %ld: traced memory %zu; at the end %zu\n", bad, seen, traced_current());
        phn_tracemalloc_stop();
    }
}

/* Tracing must not strand memory: the traced heap and the others share their free blocks
 * before either takes a new pool. */
enum { SHARED_BLOCKS = 400000 };
static void* g_shared[SHARED_BLOCKS];

static uint64_t arenas_now(void) {
    phn_stats s = stats_now();
    return s.arenas_allocated_current;
}

static void test_traced_heap_shares_pools(void) {
    CHECK_BODY("traced heap: after a tracing window (400000 traced 16-byte blocks, 199 of 200 freed, tracing stopped), untraced 16-byte requests reuse the free blocks its pools kept: no new arena; the heap is valid") {
        result = fresh_start(1);
        for (int i = 0; i < SHARED_BLOCKS && result; i++) result = (g_shared[i] = phn_obj_malloc(16)) != NULL;
        for (int i = 0; i < SHARED_BLOCKS && result; i++)
            if (i % 200) { phn_obj_free(g_shared[i]); g_shared[i] = NULL; }
        phn_tracemalloc_stop();
        uint64_t arenas = arenas_now();
        for (int i = 0; i < SHARED_BLOCKS && result; i++)
            if (!g_shared[i]) result = (g_shared[i] = phn_obj_malloc(16)) != NULL;
        uint64_t after = arenas_now();
        result = result && after == arenas && phn_validate() == PHN_OK;
        if (!result) fprintf(stderr, "\n  arenas %llu before the untraced requests, %llu after\n", (unsigned long long)arenas, (unsigned long long)after);
        for (int i = 0; i < SHARED_BLOCKS; i++) { phn_obj_free(g_shared[i]); g_shared[i] = NULL; }
        result = result && phn_validate() == PHN_OK;
    }
    CHECK_BODY("traced heap: while tracing, traced 16-byte requests take the free blocks an untraced phase left (400000 blocks, 199 of 200 freed) before new pools: no new arena, the traced memory exact; the heap is valid") {
        phn_tracemalloc_stop();
        result = 1;
        for (int i = 0; i < SHARED_BLOCKS && result; i++) result = (g_shared[i] = phn_obj_malloc(16)) != NULL;
        for (int i = 0; i < SHARED_BLOCKS && result; i++)
            if (i % 200) { phn_obj_free(g_shared[i]); g_shared[i] = NULL; }
        result = result && fresh_start(1);
        uint64_t arenas = arenas_now();
        size_t traced = 0;
        for (int i = 0; i < SHARED_BLOCKS && result; i++)
            if (!g_shared[i]) { result = (g_shared[i] = phn_obj_malloc(16)) != NULL; traced += 16; }
        uint64_t after = arenas_now();
        size_t current = traced_current();
        result = result && after == arenas && current == traced && phn_validate() == PHN_OK;
        if (!result) fprintf(stderr, "\n  arenas %llu before the traced requests, %llu after; traced %zu, expected %zu\n",
                             (unsigned long long)arenas, (unsigned long long)after, current, traced);
        phn_tracemalloc_stop();
        for (int i = 0; i < SHARED_BLOCKS; i++) { phn_obj_free(g_shared[i]); g_shared[i] = NULL; }
        result = result && phn_validate() == PHN_OK;
    }
}

/* Threads allocate, reallocate and free (each checking its blocks' data) while the main
 * thread starts, clears, snapshots and stops tracing over and over: the walks of the traced
 * heap meet blocks being taken, freed and moved. */
typedef struct toggled_worker {
    pthread_t th;
    uint64_t seed;
    long corrupted, failed;
    unsigned char* p[256];
    size_t size[256];
} toggled_worker;
static volatile int g_toggling_done;

static void* toggled_worker_main(void* arg) {
    toggled_worker* w = arg;
    uint64_t x = w->seed;
    while (!g_toggling_done) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int i = (int)((x >> 33) % 256);
        size_t n = 1 + (x >> 12) % 600;
        if (w->p[i] && !check_pattern(w->p[i], w->size[i], (unsigned)i)) w->corrupted++;
        if (w->p[i] && (x & 1)) {
            unsigned char* q = phn_mem_realloc(w->p[i], n);
            if (!q) { w->failed++; continue; }
            fill_pattern(q, n, (unsigned)i);
            w->p[i] = q;
            w->size[i] = n;
        } else if (w->p[i]) {
            phn_obj_free(w->p[i]);   /* MEM and OBJ share pymalloc: either frees */
            w->p[i] = NULL;
        } else {
            w->p[i] = (x & 2) ? phn_obj_malloc(n) : phn_mem_calloc(1, n);
            if (!w->p[i]) { w->failed++; continue; }
            w->size[i] = n;
            fill_pattern(w->p[i], n, (unsigned)i);
        }
    }
    return NULL;
}

static void test_traced_heap_toggled_under_load(void) {
    static toggled_worker w[3];
    CHECK_BODY("traced heap: 3 threads of traffic (data checked) while tracing is started, snapshotted, cleared and stopped 300 times: no block's data changes, the heap is valid, a later start counts only new blocks") {
        phn_tracemalloc_stop();
        memset(w, 0, sizeof w);
        g_toggling_done = 0;
        int created = 0;
        for (int i = 0; i < 3; i++) {
            w[i].seed = 77 + (uint64_t)i * 1000003;
            if (pthread_create(&w[i].th, NULL, toggled_worker_main, &w[i]) == 0) created++;
        }
        result = created == 3;
        for (int k = 0; k < 300 && result; k++) {
            result = phn_tracemalloc_start(1) == PHN_OK;
            if (k % 3 == 0) { phn_snapshot* s = take(); result = result && s; phn_snapshot_free(s); }
            if (k % 3 == 1) result = result && phn_tracemalloc_clear_traces() == PHN_OK;
            (void)phn_tracemalloc_get_tracemalloc_memory();
            result = result && phn_tracemalloc_stop() == PHN_OK;
        }
        g_toggling_done = 1;
        for (int i = 0; i < created; i++) pthread_join(w[i].th, NULL);
        long corrupted = 0, failed = 0;
        for (int i = 0; i < 3; i++) { corrupted += w[i].corrupted; failed += w[i].failed; }
        result = result && corrupted == 0 && failed == 0 && phn_validate() == PHN_OK && fresh_start(1);
        void* fresh = phn_mem_malloc(40);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 256; j++)
                if (w[i].p[j]) {
                    if (!check_pattern(w[i].p[j], w[i].size[j], (unsigned)j)) corrupted++;
                    phn_mem_free(w[i].p[j]);
                }
        result = result && corrupted == 0 && traced_current() == 40 && phn_validate() == PHN_OK;
        if (!result) fprintf(stderr, "\n  corrupted %ld, failed %ld, traced %zu\n", corrupted, failed, traced_current());
        phn_mem_free(fresh);
        phn_tracemalloc_stop();
    }
}

/* ------------------------------------------------------------------ one block's traceback */

/* How many traces get_traceback(domain, ptr) gives (0 or 1), or -1 when the call fails. */
static int64_t traceback_count(uint32_t domain, uintptr_t ptr) {
    phn_snapshot* s = NULL;
    int64_t n = phn_tracemalloc_get_traceback(domain, ptr, &s) == PHN_OK && s ? phn_snapshot_trace_count(s) : -1;
    phn_snapshot_free(s);
    return n;
}

/* The single trace of a one-block snapshot, compared with the same block's trace in a full
 * snapshot (same size, same frames). */
static int same_as_in_snapshot(phn_snapshot* one, const phn_snapshot* all, uint32_t domain, uint64_t size) {
    phn_trace a, b;
    if (phn_snapshot_trace_count(one) != 1 || !get_trace(one, 0, &a) || !find_trace(all, domain, size, &b)) return 0;
    if (a.domain != domain || a.size != size || a.nframe != b.nframe || a.nframe == 0) return 0;
    for (uint32_t i = 0; i < a.nframe; i++)
        if (strcmp(a.frames[i].filename, b.frames[i].filename) != 0 || a.frames[i].lineno != b.frames[i].lineno) return 0;
    return 1;
}

static void test_get_traceback(void) {
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = (uint32_t)sizeof spec;
    spec.name = "TracebackLeaf";
    spec.basicsize = 200;
    spec.flags = PHN_TPFLAGS_WEAKREFABLE;   /* two words before the object: its block starts there */
    phn_type* t = phn_type_new(&spec);
    CHECK_BODY("get_traceback while not tracing: PHN_OK and a snapshot without a trace (CPython: None); out NULL: PHN_EINVAL") {
        phn_tracemalloc_stop();
        void* p = phn_mem_malloc(100);
        result = traceback_count(PHN_TRACE_DOMAIN_DEFAULT, U(p)) == 0 && phn_tracemalloc_get_traceback(0, U(p), NULL) == PHN_EINVAL;
        phn_mem_free(p);
    }
    CHECK_BODY("get_traceback(0, p): the trace of p alone, as the full snapshot has it, for a block with a header trace (100 B), a table trace (1000 B: RAW) and a tracked address of domain 5; none for an untraced address or a freed block") {
        result = fresh_start(3);
        void* small = phn_mem_malloc(100);
        void* big = phn_obj_malloc(1000);
        char local[8];
        result = result && small && big && phn_tracemalloc_track(5, U(local), 77) == 0;
        phn_snapshot* all = take();
        phn_snapshot *a = NULL, *b = NULL, *c = NULL;
        result = result && all
            && phn_tracemalloc_get_traceback(0, U(small), &a) == PHN_OK && same_as_in_snapshot(a, all, 0, 100)
            && phn_tracemalloc_get_traceback(0, U(big), &b) == PHN_OK && same_as_in_snapshot(b, all, 0, 1000)
            && phn_tracemalloc_get_traceback(5, U(local), &c) == PHN_OK && same_as_in_snapshot(c, all, 5, 77);
        phn_snapshot_free(a); phn_snapshot_free(b); phn_snapshot_free(c); phn_snapshot_free(all);
        result = result && traceback_count(0, U(local)) == 0 && traceback_count(0, U(small) + 16) == 0;
        phn_mem_free(small);
        result = result && traceback_count(0, U(small)) == 0;
        phn_tracemalloc_untrack(5, U(local));
        result = result && traceback_count(5, U(local)) == 0;
        phn_obj_free(big);
        phn_tracemalloc_stop();
    }
    CHECK_BODY("get_object_traceback(op) finds the object's block at its headers, however many: none (200 bytes traced), a GC header and a weak-reference list (32 bytes, 232), a large object traced in the table (1016 bytes: 16 + 1000)") {
        static const struct { uint32_t flags; int32_t basicsize; uint64_t traced; } kinds[] = {
            {0, 200, 200},
            {PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_WEAKREFABLE, 200, 232},
            {PHN_TPFLAGS_WEAKREFABLE, 1000, 1016},
        };
        result = fresh_start(1);
        for (int k = 0; k < 3 && result; k++) {
            phn_type_spec ks;
            memset(&ks, 0, sizeof ks);
            ks.struct_size = (uint32_t)sizeof ks;
            ks.name = "TracebackKind";
            ks.basicsize = kinds[k].basicsize;
            ks.flags = kinds[k].flags;
            phn_type* kt = phn_type_new(&ks);
            phn_object* o = kt ? ((kinds[k].flags & PHN_TPFLAGS_HAVE_GC) ? phn_gc_new(kt) : phn_object_new(kt)) : NULL;
            phn_snapshot* all = take();
            phn_snapshot* one = NULL;
            result = o && all && phn_tracemalloc_get_object_traceback(o, &one) == PHN_OK
                && same_as_in_snapshot(one, all, 0, kinds[k].traced)
                && traceback_count(5, U(o) - (uintptr_t)(kinds[k].traced - (uint64_t)kinds[k].basicsize)) == 0;   /* not in another domain */
            if (!result) fprintf(stderr, "\n  kind %d (expected %llu bytes traced)\n", k, (unsigned long long)kinds[k].traced);
            phn_snapshot_free(one);
            phn_snapshot_free(all);
            if (o) phn_decref(o);
        }
        phn_tracemalloc_stop();
    }
    CHECK_BODY("get_object_traceback(op): the trace of the object's block, which starts at its headers (a weak-referenceable type: 16 bytes before the object, 216 bytes traced); get_traceback(0, op) has none; NULL or a non-object: PHN_EINVAL") {
        result = t != NULL && fresh_start(1);
        phn_object* o = result ? phn_object_new(t) : NULL;
        phn_snapshot* all = take();
        phn_snapshot* a = NULL;
        result = result && o && all && phn_tracemalloc_get_object_traceback(o, &a) == PHN_OK && same_as_in_snapshot(a, all, 0, 216)
            && traceback_count(0, U(o)) == 0;
        phn_snapshot_free(a);
        phn_snapshot_free(all);
        uint64_t not_an_object[4] = {1, 0, 0, 0};
        phn_snapshot* bad = (phn_snapshot*)1;
        result = result && phn_tracemalloc_get_object_traceback(NULL, &bad) == PHN_EINVAL && bad == NULL
            && phn_tracemalloc_get_object_traceback((phn_object*)not_an_object, &bad) == PHN_EINVAL
            && phn_tracemalloc_get_object_traceback(o, NULL) == PHN_EINVAL;
        if (o) phn_decref(o);
        phn_tracemalloc_stop();
    }
}

/* ------------------------------------------------------------------ stop restores, bad handles */

static void test_stop_restores(void) {
    phn_tracemalloc_stop();
    phn_allocator before[3], during[3], after[3];
    for (int d = 0; d < 3; d++) phn_get_allocator(d, &before[d]);
    const char* name0 = phn_allocator_name();
    CHECK_BODY("start replaces the three domains' allocators (phn_allocator_name NULL while tracing)") {
        result = name0 && strcmp(name0, "pymalloc") == 0 && phn_tracemalloc_start(1) == PHN_OK;
        for (int d = 0; d < 3; d++) {
            phn_get_allocator(d, &during[d]);
            result = result && memcmp(&during[d], &before[d], sizeof before[d]) != 0;
        }
        result = result && phn_allocator_name() == NULL;
    }
    CHECK_BODY("stop restores the allocators bit for bit; phn_allocator_name() is \"pymalloc\" again") {
        result = phn_tracemalloc_stop() == PHN_OK;
        for (int d = 0; d < 3; d++) {
            phn_get_allocator(d, &after[d]);
            result = result && memcmp(&after[d], &before[d], sizeof before[d]) == 0;
        }
        const char* n = phn_allocator_name();
        result = result && n && strcmp(n, "pymalloc") == 0 && phn_validate() == PHN_OK;
    }
}

static void test_bad_handles(void) {
    int local = 0;
    phn_snapshot* fake = (phn_snapshot*)(uintptr_t)U(&local);
    phn_statistics* fake_st = (phn_statistics*)(uintptr_t)U(&local);
    phn_trace t;
    phn_statistic x;
    phn_statistics* st = NULL;
    phn_snapshot* out = NULL;
    phn_tracemalloc_stop();
    CHECK_BODY("NULL snapshot: PHN_EINVAL from every snapshot function; phn_snapshot_free(NULL) is not an error") {
        result = phn_snapshot_trace_count(NULL) == PHN_EINVAL && phn_snapshot_traceback_limit(NULL) == PHN_EINVAL &&
                 phn_snapshot_get_trace(NULL, 0, &t) == PHN_EINVAL && phn_snapshot_filter_traces(NULL, NULL, 0, &out) == PHN_EINVAL &&
                 phn_snapshot_statistics(NULL, PHN_KEY_LINENO, 0, &st) == PHN_EINVAL &&
                 phn_snapshot_compare_to(NULL, NULL, PHN_KEY_LINENO, 0, &st) == PHN_EINVAL &&
                 phn_last_error_code() == PHN_EINVAL;
        phn_clear_error();
        phn_snapshot_free(NULL);
        phn_statistics_free(NULL);
        result = result && phn_last_error_code() == 0;
    }
    CHECK_BODY("NULL statistics: PHN_EINVAL") {
        result = phn_statistics_count(NULL) == PHN_EINVAL && phn_statistics_get(NULL, 0, &x) == PHN_EINVAL;
    }
    CHECK_BODY("the address of a local variable as a snapshot or a statistics list: PHN_EINVAL, no crash") {
        result = phn_snapshot_trace_count(fake) == PHN_EINVAL && phn_snapshot_traceback_limit(fake) == PHN_EINVAL &&
                 phn_snapshot_get_trace(fake, 0, &t) == PHN_EINVAL && phn_snapshot_statistics(fake, PHN_KEY_LINENO, 0, &st) == PHN_EINVAL &&
                 phn_snapshot_filter_traces(fake, NULL, 0, &out) == PHN_EINVAL && phn_statistics_count(fake_st) == PHN_EINVAL &&
                 phn_statistics_get(fake_st, 0, &x) == PHN_EINVAL;
        phn_clear_error();
        phn_snapshot_free(fake);
        result = result && phn_last_error_code() == PHN_EINVAL;
        phn_clear_error();
        phn_statistics_free(fake_st);
        result = result && phn_last_error_code() == PHN_EINVAL && local == 0;
    }
    CHECK_BODY("a freed snapshot: PHN_EINVAL from every function, freeing it again reports PHN_EINVAL") {
        result = fresh_start(1);
        void* p = phn_mem_malloc(10);
        phn_snapshot* s = take();
        phn_snapshot* s2 = take();
        result = result && s && s2 && phn_snapshot_trace_count(s) == 1;
        phn_snapshot_free(s);
        result = result && phn_snapshot_trace_count(s) == PHN_EINVAL && phn_snapshot_traceback_limit(s) == PHN_EINVAL &&
                 phn_snapshot_get_trace(s, 0, &t) == PHN_EINVAL && phn_snapshot_statistics(s, PHN_KEY_LINENO, 0, &st) == PHN_EINVAL &&
                 phn_snapshot_compare_to(s2, s, PHN_KEY_LINENO, 0, &st) == PHN_EINVAL &&
                 phn_snapshot_compare_to(s, s2, PHN_KEY_LINENO, 0, &st) == PHN_EINVAL &&
                 phn_snapshot_filter_traces(s, NULL, 0, &out) == PHN_EINVAL && phn_snapshot_dump(s, "/tmp/phn-never-written") == PHN_EINVAL;
        phn_clear_error();
        phn_snapshot_free(s);
        result = result && phn_last_error_code() == PHN_EINVAL && phn_snapshot_trace_count(s2) == 1;
        phn_snapshot_free(s2);
        phn_mem_free(p);
    }
    CHECK_BODY("a freed statistics list: PHN_EINVAL; index out of range and NULL out: PHN_EINVAL") {
        phn_snapshot* s = take();
        st = NULL;
        result = s && phn_snapshot_statistics(s, PHN_KEY_LINENO, 0, &st) == PHN_OK && phn_statistics_count(st) == 0 &&
                 phn_statistics_get(st, 0, &x) == PHN_EINVAL && phn_statistics_get(st, -1, &x) == PHN_EINVAL;
        void* p = phn_mem_malloc(10);
        phn_snapshot* s2 = take();
        phn_statistics* st2 = NULL;
        result = result && s2 && phn_snapshot_statistics(s2, PHN_KEY_LINENO, 0, &st2) == PHN_OK && phn_statistics_count(st2) == 1 &&
                 phn_statistics_get(st2, 0, NULL) == PHN_EINVAL && phn_statistics_get(st2, 1, &x) == PHN_EINVAL &&
                 phn_snapshot_get_trace(s2, 1, &t) == PHN_EINVAL && phn_snapshot_get_trace(s2, -1, &t) == PHN_EINVAL &&
                 phn_snapshot_get_trace(s2, 0, NULL) == PHN_EINVAL && phn_snapshot_statistics(s2, PHN_KEY_LINENO, 0, NULL) == PHN_EINVAL &&
                 phn_snapshot_compare_to(s2, s, PHN_KEY_LINENO, 0, NULL) == PHN_EINVAL;
        phn_statistics_free(st2);
        result = result && phn_statistics_count(st2) == PHN_EINVAL && phn_statistics_get(st2, 0, &x) == PHN_EINVAL;
        phn_clear_error();
        phn_statistics_free(st2);
        result = result && phn_last_error_code() == PHN_EINVAL;
        phn_statistics_free(st);
        phn_snapshot_free(s);
        phn_snapshot_free(s2);
        phn_mem_free(p);
    }
    CHECK_BODY("handles of the other kind are rejected: a statistics list as a snapshot, a snapshot as a statistics list") {
        phn_snapshot* s = take();
        st = NULL;
        result = s && phn_snapshot_statistics(s, PHN_KEY_LINENO, 0, &st) == PHN_OK;
        result = result && phn_snapshot_trace_count((phn_snapshot*)(void*)st) == PHN_EINVAL &&
                 phn_statistics_count((phn_statistics*)(void*)s) == PHN_EINVAL &&
                 phn_snapshot_get_trace((phn_snapshot*)(void*)st, 0, &t) == PHN_EINVAL &&
                 phn_statistics_get((phn_statistics*)(void*)s, 0, &x) == PHN_EINVAL;
        phn_statistics_free(st);
        phn_snapshot_free(s);
    }
    CHECK_BODY("freeing a handle with the wrong free function is rejected (PHN_EINVAL) and the object stays usable") {
        phn_snapshot* s = take();
        st = NULL;
        result = s && phn_snapshot_statistics(s, PHN_KEY_LINENO, 0, &st) == PHN_OK;
        phn_clear_error();
        phn_snapshot_free((phn_snapshot*)(void*)st);   /* a statistics list given to phn_snapshot_free */
        int code1 = phn_last_error_code();
        int64_t alive1 = phn_statistics_count(st);
        phn_clear_error();
        phn_statistics_free((phn_statistics*)(void*)s);   /* a snapshot given to phn_statistics_free */
        int code2 = phn_last_error_code();
        int64_t alive2 = phn_snapshot_trace_count(s);
        result = result && code1 == PHN_EINVAL && alive1 >= 0 && code2 == PHN_EINVAL && alive2 >= 0;
        if (!result)
            fprintf(stderr, "\n  snapshot_free(statistics): code %d, then statistics_count %lld; statistics_free(snapshot): code %d, then trace_count %lld\n",
                    code1, (long long)alive1, code2, (long long)alive2);
        if (alive1 >= 0) phn_statistics_free(st);
        if (alive2 >= 0) phn_snapshot_free(s);
        phn_tracemalloc_stop();
    }
}

/* ------------------------------------------------------------------ child processes */

/* PYHEAPNATIVE_TRACEMALLOC: report what the library started with; "first=" is what
 * phn_tracemalloc_is_tracing / get_traceback_limit say as the very first calls (they start
 * the library implicitly, phn_runtime.h), the rest is after an explicit phn_init(). */
static int child_env(void) {
    int32_t first_tracing = phn_tracemalloc_is_tracing();
    int32_t first_limit = phn_tracemalloc_get_traceback_limit();
    printf("first=%d/%d\n", first_tracing, first_limit);
    fflush(stdout);
    phn_init();
    int32_t tracing = phn_tracemalloc_is_tracing();
    int32_t limit = phn_tracemalloc_get_traceback_limit();
    size_t c0 = traced_current();
    void* p = phn_mem_malloc(123);
    size_t c1 = traced_current();
    phn_mem_free(p);
    phn_tracemalloc_stop();
    const char* n = phn_allocator_name();
    printf("tracing=%d limit=%d delta=%zu name=%s\n", tracing, limit, c1 - c0, n ? n : "(null)");
    fflush(stdout);
    return 0;
}

static void test_env(const char* value, int want_tracing, int want_limit) {
    char env[64], name[160];
    snprintf(env, sizeof env, "PYHEAPNATIVE_TRACEMALLOC=%s", value ? value : "");
    const char* set[] = {env, NULL};
    child_result r;
    run_self("--child-env", NULL, value ? set : NULL, &r);
    char want[128], first[64];
    snprintf(want, sizeof want, "tracing=%d limit=%d delta=%d name=pymalloc\n", want_tracing, want_limit, want_tracing ? 123 : 0);
    snprintf(first, sizeof first, "first=%d/%d\n", want_tracing, want_limit);
    if (value) snprintf(name, sizeof name, "PYHEAPNATIVE_TRACEMALLOC=%s: tracing %d with limit %d after phn_init, (de)allocations traced", value, want_tracing, want_limit);
    else snprintf(name, sizeof name, "PYHEAPNATIVE_TRACEMALLOC unset: not tracing, traceback limit 1 before any start");
    CHECK_BODY(name) {
        result = r.exited && r.exit_code == 0 && strstr(r.out, want) != NULL;
        if (!result) {
            fprintf(stderr, "\n  expected %s  child ", want);
            describe_child(&r);
            echo_prefixed("out", r.out);
            echo_prefixed("err", r.err);
        }
    }
    if (value) snprintf(name, sizeof name, "PYHEAPNATIVE_TRACEMALLOC=%s: phn_tracemalloc_is_tracing() / get_traceback_limit() as the first calls start the library and say %d / %d", value, want_tracing, want_limit);
    else snprintf(name, sizeof name, "PYHEAPNATIVE_TRACEMALLOC unset: is_tracing() / get_traceback_limit() as the first calls say 0 / 1");
    if (!value || strcmp(value, "3") == 0 || strcmp(value, "0") == 0) {
        CHECK_BODY(name) {
            result = r.exited && strncmp(r.out, first, strlen(first)) == 0;
            if (!result) fprintf(stderr, "\n  expected %s  got:\n%s", first, r.out);
        }
    }
    child_result_free(&r);
}

static void test_env_fatal(const char* value) {
    char env[64], name[160];
    snprintf(env, sizeof env, "PYHEAPNATIVE_TRACEMALLOC=%s", value);
    const char* set[] = {env, NULL};
    child_result r;
    run_self("--child-env", NULL, set, &r);
    snprintf(name, sizeof name, "PYHEAPNATIVE_TRACEMALLOC=%s: fatal error (SIGABRT) naming the variable", value);
    CHECK_BODY(name) {
        result = r.signaled && r.signo == SIGABRT && strstr(r.err, "PYHEAPNATIVE_TRACEMALLOC") && strstr(r.err, "Fatal error") &&
                 strstr(r.out, "tracing=") == NULL;
        if (!result) {
            fprintf(stderr, "\n  child ");
            describe_child(&r);
            echo_prefixed("out", r.out);
            echo_prefixed("err", r.err);
        }
    }
    child_result_free(&r);
}

/* PYHEAPNATIVE_ALLOCATOR=debug + PYHEAPNATIVE_TRACEMALLOC=1: the traced sizes are the
 * user's, not the debug blocks'. */
static int child_debug_trace(void) {
    CHECK_BODY("[debug + tracing] tracing from start-up over the debug hooks") {
        result = phn_init() == PHN_OK && phn_tracemalloc_is_tracing() == 1 && phn_tracemalloc_get_traceback_limit() == 1;
    }
    phn_tracemalloc_clear_traces();
    CHECK_BODY("[debug + tracing] traced sizes are the requested sizes (no 24-byte debug overhead), in every domain") {
        void* a = phn_mem_malloc(100);
        void* b = phn_obj_calloc(10, 10);
        void* c = phn_raw_malloc(1000);
        void* d = phn_obj_malloc(100000);
        result = a && b && c && d && traced_current() == 100 + 100 + 1000 + 100000;
        phn_snapshot* s = take();
        int64_t n = -1;
        result = result && s && snapshot_sum(s, -1, &n) == 101200 && n == 4 && count_traces_of_size(s, 100) == 2 &&
                 count_traces_of_size(s, 1000) == 1 && count_traces_of_size(s, 100000) == 1;
        phn_snapshot_free(s);
        a = phn_mem_realloc(a, 5000);
        result = result && a && traced_current() == 5000 + 100 + 1000 + 100000;
        phn_mem_free(a);
        phn_obj_free(b);
        phn_raw_free(c);
        phn_obj_free(d);
        result = result && traced_current() == 0 && traced_peak() == 106100;
    }
    CHECK_BODY("[debug + tracing] stop restores the debug hooks: phn_allocator_name() is \"pymalloc_debug\"") {
        result = phn_tracemalloc_stop() == PHN_OK;
        const char* n = phn_allocator_name();
        result = result && n && strcmp(n, "pymalloc_debug") == 0;
        void* p = phn_mem_malloc(10);
        phn_mem_free(p);
    }
    CHECK_BODY("[debug + tracing] a restart wraps the debug hooks again, sizes still exact") {
        result = phn_tracemalloc_start(3) == PHN_OK;
        void* p = phn_obj_malloc(77);
        result = result && traced_current() == 77;
        phn_obj_free(p);
        result = result && traced_current() == 0 && phn_tracemalloc_stop() == PHN_OK;
        const char* n = phn_allocator_name();
        result = result && n && strcmp(n, "pymalloc_debug") == 0;
    }
    return print_test_summary();
}

/* A buffer overflow under the debug hooks (the child dies in phn_mem_free). */
static int child_overflow(const char* how) {
    if (strcmp(how, "untraced") == 0) {
        /* tracing, but the block was allocated before the start */
        volatile size_t k = 16;
        unsigned char* p = (unsigned char*)phn_mem_malloc(16);
        if (!p || phn_tracemalloc_start(5) != PHN_OK) return 3;
        ((volatile unsigned char*)p)[k] = 'x';
        phn_mem_free(p);
        printf("survived\n");
        fflush(stdout);
        return 0;
    }
    if (strcmp(how, "off") != 0) {
        if (phn_tracemalloc_start(5) != PHN_OK) return 3;
        if (strcmp(how, "provider") == 0) {
            prov_frames(2, "app.py", 10, "main.py", 3, NULL, 0);
            if (!prov_install()) return 4;
        }
    }
    volatile size_t k = 16;
    unsigned char* p = (unsigned char*)phn_mem_malloc(16);
    if (!p) return 5;
    ((volatile unsigned char*)p)[k] = 'x';
    phn_mem_free(p);
    printf("survived\n");
    fflush(stdout);
    return 0;
}

static void test_overflow_dump(const char* how) {
    const char* set[] = {"PYHEAPNATIVE_ALLOCATOR=debug", NULL};
    child_result r;
    run_self("--child-overflow", how, set, &r);
    char name[200];
    snprintf(name, sizeof name, "[debug, %s] buffer overflow: SIGABRT, \"bad trailing pad byte\" (item 50)", how);
    CHECK_BODY(name) {
        result = r.signaled && r.signo == SIGABRT && strstr(r.err, "bad trailing pad byte") && !strstr(r.out, "survived");
    }
    if (strcmp(how, "off") == 0) {
        CHECK_BODY("[debug, not tracing] the dump says \"Enable tracemalloc to get the memory block allocation traceback\" (item 50)") {
            result = strstr(r.err, "Enable tracemalloc to get the memory block allocation traceback") &&
                     !strstr(r.err, "Memory block allocated at");
        }
    } else if (strcmp(how, "untraced") == 0) {
        CHECK_BODY("[debug, tracing, block allocated before the start] the dump has no traceback and no \"Enable tracemalloc\" line (as _PyMem_DumpTraceback)") {
            result = !strstr(r.err, "Enable tracemalloc") && !strstr(r.err, "Memory block allocated at") &&
                     strstr(r.err, "Debug memory block at address p=") != NULL;
        }
    } else if (strcmp(how, "provider") == 0) {
        CHECK_BODY("[debug, tracing, provider] the dump prints the traceback: \"Memory block allocated at (most recent call first):\", File \"app.py\", line 10, File \"main.py\", line 3 (item 50)") {
            result = strstr(r.err,
                            "Memory block allocated at (most recent call first):\n"
                            "  File \"app.py\", line 10\n"
                            "  File \"main.py\", line 3\n") != NULL &&
                     !strstr(r.err, "Enable tracemalloc");
        }
    } else {
        CHECK_BODY("[debug, tracing, native frames] the dump prints \"Memory block allocated at (most recent call first):\" and \"  File \\\"...\\\", line N\" lines (item 50)") {
            result = regex_search("Memory block allocated at \\(most recent call first\\):\n"
                                  "  File \"[^\"\n]+\", line [0-9]+\n"
                                  "  File \"[^\"\n]+\", line [0-9]+\n",
                                  r.err) == 1 &&
                     !strstr(r.err, "Enable tracemalloc");
        }
    }
    if (!r.signaled || !strstr(r.err, "bad trailing pad byte")) {
        fprintf(stderr, "  child ");
        describe_child(&r);
        fprintf(stderr, "\n");
        echo_prefixed("out", r.out);
        echo_prefixed("err", r.err);
    }
    child_result_free(&r);
}

/* A hook installed over the tracer's wrapper stays in place at stop and keeps working. */
static int child_hook_over_tracer(void) {
    counting_hook h;
    CHECK_BODY("[hook] a counting hook installed over the tracing wrapper sees the calls, which are traced") {
        result = phn_tracemalloc_start(1) == PHN_OK && hook_install(&h, PHN_DOMAIN_MEM) == 0;
        void* p = phn_mem_malloc(50);
        result = result && h.malloc_calls == 1 && traced_current() == 50;
        phn_mem_free(p);
        result = result && h.free_calls == 1 && traced_current() == 0;
    }
    CHECK_BODY("[hook] stop leaves the hook in place (it wraps the tracer); calls pass through untraced") {
        result = phn_tracemalloc_stop() == PHN_OK;
        phn_allocator a;
        phn_get_allocator(PHN_DOMAIN_MEM, &a);
        result = result && a.ctx == (void*)&h;
        void* p = phn_mem_malloc(60);
        result = result && p && h.malloc_calls == 2 && traced_current() == 0;
        phn_mem_free(p);
    }
    CHECK_BODY("[hook] start again (wrapping the hook), allocate, stop: exact, and the hook is back") {
        result = phn_tracemalloc_start(1) == PHN_OK;
        void* p = phn_mem_malloc(70);
        result = result && traced_current() == 70 && h.malloc_calls == 3;
        phn_mem_free(p);
        result = result && traced_current() == 0 && phn_tracemalloc_stop() == PHN_OK;
        phn_allocator a;
        phn_get_allocator(PHN_DOMAIN_MEM, &a);
        result = result && a.ctx == (void*)&h;
    }
    CHECK_BODY("[hook] removing the hook leaves working allocators; phn_validate passes") {
        result = hook_uninstall(&h) == 0;
        void* p = phn_mem_malloc(80);
        result = result && p && traced_current() == 0;
        phn_mem_free(p);
        result = result && phn_validate() == PHN_OK;
    }
    return print_test_summary();
}

int main(int argc, char** argv) {
    alarm(240);
    if (!realpath("/proc/self/exe", g_exe)) g_exe[0] = '\0';
    if (argc > 1 && strcmp(argv[1], "--child-env") == 0) return child_env();
    if (argc > 1 && strcmp(argv[1], "--child-debug-trace") == 0) return child_debug_trace();
    if (argc > 2 && strcmp(argv[1], "--child-overflow") == 0) return child_overflow(argv[2]);
    if (argc > 1 && strcmp(argv[1], "--child-hook-over-tracer") == 0) return child_hook_over_tracer();

    test_start_limits();
    test_track_untrack();
    test_traced_once();
    test_traced_memory();
    test_snapshot_errors();
    test_statistics_order();
    test_provider_frames();
    test_provider_after_cached_site();
    test_object_frames();
    test_native_frames();
    test_filters();
    test_exact_model();
    test_exact_threads(0);
    test_exact_threads(1);
    test_traced_heap_sizes();
    test_traced_heap_realloc();
    test_traced_heap_lifetimes();
    test_traced_heap_track();
    test_traced_heap_arena_callbacks();
    test_traced_heap_untraced_frees();
    test_traced_heap_naming_race();
    test_traced_heap_track_during_free(1);
    test_traced_heap_track_during_free(2);
    test_traced_heap_shares_pools();
    test_traced_heap_toggled_under_load();
    test_get_traceback();
    test_stop_restores();
    test_bad_handles();

    test_env(NULL, 0, 1);
    test_env("0", 0, 1);
    test_env("1", 1, 1);
    test_env("3", 1, 3);
    test_env("65535", 1, 65535);
    test_env_fatal("x");
    test_env_fatal("70000");
    test_env_fatal("-1");
    {
        const char* set[] = {"PYHEAPNATIVE_ALLOCATOR=debug", "PYHEAPNATIVE_TRACEMALLOC=1", NULL};
        run_child_suite("--child-debug-trace", set);
    }
    test_overflow_dump("off");
    test_overflow_dump("untraced");
    test_overflow_dump("native");
    test_overflow_dump("provider");
    run_child_suite("--child-hook-over-tracer", NULL);

    CHECK_BODY("the end: not tracing, (0, 0), phn_validate() == 0") {
        result = phn_tracemalloc_is_tracing() == 0 && traced_current() == 0 && phn_validate() == PHN_OK;
    }
    return print_test_summary();
}
