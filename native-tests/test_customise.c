/* test_customise.c - customising the domains and the arena allocator: spec-allocator.md
 * §1.3, §1.6, §1.7 and §7 items 3, 4 (the hook is not called), 8, 9, 29, 38.
 *
 *   8   unknown domain: get yields five NULLs, set changes nothing (PHN_EINVAL)
 *   9   get/set round-trip bit for bit (domains and arena allocator); a wrapping hook sees
 *       every MEM/OBJ call, with exact counts
 *   3,4 sizes above PTRDIFF_MAX and calloc overflow never reach the hook
 *   phn_allocator_name: "pymalloc", NULL while customised, "pymalloc" once restored
 *   an allocator installed on RAW serves pymalloc's fallback (0 and > 512 bytes)
 *   38  PYHEAPNATIVE_ALLOCATOR (in child processes): malloc / pymalloc / default accepted,
 *       unknown names are fatal naming the variable
 *   29  with PYHEAPNATIVE_ALLOCATOR=malloc, phn_format_malloc_stats writes nothing, returns 0
 */
#include "testhelper.h"
#include "phn_test_common.h"

static volatile size_t too_big = (size_t)PTRDIFF_MAX + 1;
static volatile size_t size_max = SIZE_MAX;
static volatile size_t half_plus_one = (size_t)PTRDIFF_MAX / 2 + 1;
static volatile size_t two = 2;
static volatile size_t two_pow_33 = (size_t)1 << 33;

static int same_allocator(const phn_allocator* a, const phn_allocator* b) { return memcmp(a, b, sizeof *a) == 0; }

static void get3(phn_allocator out[3]) {
    for (int d = 0; d < 3; d++) {
        memset(&out[d], 0xEE, sizeof out[d]);
        phn_get_allocator(d, &out[d]);
    }
}
static int unchanged3(const phn_allocator before[3]) {
    phn_allocator now[3];
    get3(now);
    return memcmp(before, now, sizeof now) == 0;
}

static void* PHN_CALL never_malloc(void* ctx, size_t n) { (void)ctx; (void)n; return NULL; }
static void* PHN_CALL never_calloc(void* ctx, size_t a, size_t b) { (void)ctx; (void)a; (void)b; return NULL; }
static void* PHN_CALL never_realloc(void* ctx, void* p, size_t n) { (void)ctx; (void)p; (void)n; return NULL; }
static void PHN_CALL never_free(void* ctx, void* p) { (void)ctx; (void)p; }
static void* PHN_CALL never_arena_alloc(void* ctx, size_t n) { (void)ctx; (void)n; return NULL; }
static void PHN_CALL never_arena_free(void* ctx, void* p, size_t n) { (void)ctx; (void)p; (void)n; }

static int name_is(const char* want) {
    const char* n = phn_allocator_name();
    if (want == NULL) return n == NULL;
    return n != NULL && strcmp(n, want) == 0;
}

/* ------------------------------------------------------------------ item 8 */
static void test_unknown_domain(void) {
    static const int32_t bad[] = {3, 4, -1, 7, 1000, INT32_MAX, INT32_MIN};
    CHECK_BODY("phn_get_allocator(unknown domain): PHN_EINVAL and a struct of five NULLs (item 8)") {
        result = true;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            phn_allocator a;
            memset(&a, 0xAB, sizeof a);
            int32_t rc = phn_get_allocator(bad[i], &a);
            if (rc != PHN_EINVAL || a.ctx || a.malloc || a.calloc || a.realloc || a.free) {
                fprintf(stderr, "\n  domain %d: rc %d\n", bad[i], rc);
                result = false;
            }
        }
    }
    CHECK_BODY("phn_set_allocator(unknown domain): PHN_EINVAL, no domain changes (item 8)") {
        phn_allocator before[3];
        get3(before);
        phn_allocator x = {NULL, never_malloc, never_calloc, never_realloc, never_free};
        result = true;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            if (phn_set_allocator(bad[i], &x) != PHN_EINVAL) result = false;
        result = result && unchanged3(before) && name_is("pymalloc");
    }
    CHECK("phn_get_allocator(MEM, NULL) == PHN_EINVAL", phn_get_allocator(PHN_DOMAIN_MEM, NULL) == PHN_EINVAL);
    CHECK_BODY("phn_set_allocator(d, NULL) == PHN_EINVAL for each domain, nothing changes") {
        phn_allocator before[3];
        get3(before);
        result = phn_set_allocator(PHN_DOMAIN_RAW, NULL) == PHN_EINVAL && phn_set_allocator(PHN_DOMAIN_MEM, NULL) == PHN_EINVAL &&
                 phn_set_allocator(PHN_DOMAIN_OBJ, NULL) == PHN_EINVAL && unchanged3(before) && name_is("pymalloc");
    }
    CHECK_BODY("phn_set_allocator with any NULL function pointer == PHN_EINVAL, nothing changes") {
        phn_allocator before[3];
        get3(before);
        result = true;
        for (int d = 0; d < 3; d++) {
            for (int which = 0; which < 4; which++) {
                phn_allocator x = {NULL, never_malloc, never_calloc, never_realloc, never_free};
                if (which == 0) x.malloc = NULL;
                if (which == 1) x.calloc = NULL;
                if (which == 2) x.realloc = NULL;
                if (which == 3) x.free = NULL;
                if (phn_set_allocator(d, &x) != PHN_EINVAL) result = false;
            }
        }
        result = result && unchanged3(before) && name_is("pymalloc");
        /* the domains still work */
        void* p = phn_obj_malloc(10);
        void* q = phn_mem_malloc(1000);
        void* r = phn_raw_malloc(10);
        result = result && p && q && r;
        phn_obj_free(p);
        phn_mem_free(q);
        phn_raw_free(r);
    }
    CHECK_BODY("phn_set_arena_allocator(NULL) and NULL alloc / free: PHN_EINVAL, nothing changes") {
        phn_arena_allocator before, after;
        memset(&before, 0, sizeof before);
        memset(&after, 0, sizeof after);
        phn_get_arena_allocator(&before);
        phn_arena_allocator x1 = {NULL, NULL, never_arena_free};
        phn_arena_allocator x2 = {NULL, never_arena_alloc, NULL};
        result = phn_set_arena_allocator(NULL) == PHN_EINVAL && phn_set_arena_allocator(&x1) == PHN_EINVAL &&
                 phn_set_arena_allocator(&x2) == PHN_EINVAL;
        phn_get_arena_allocator(&after);
        result = result && memcmp(&before, &after, sizeof before) == 0;
    }
}

/* ------------------------------------------------------------------ item 9 */
static void test_round_trip(void) {
    CHECK_BODY("phn_allocator_name() is \"pymalloc\" by default") { result = name_is("pymalloc"); }
    CHECK_BODY("get -> set -> get of each built-in domain allocator is bit-for-bit identical (item 9)") {
        result = true;
        for (int d = 0; d < 3; d++) {
            phn_allocator a, b;
            memset(&a, 0x11, sizeof a);
            memset(&b, 0x22, sizeof b);
            if (phn_get_allocator(d, &a) != PHN_OK || phn_set_allocator(d, &a) != PHN_OK || phn_get_allocator(d, &b) != PHN_OK ||
                !same_allocator(&a, &b) || !a.malloc || !a.calloc || !a.realloc || !a.free)
                result = false;
        }
        result = result && name_is("pymalloc");
    }
    CHECK_BODY("the three built-in domain allocators are distinct structs (RAW differs from MEM/OBJ)") {
        phn_allocator a[3];
        get3(a);
        result = !same_allocator(&a[0], &a[1]) && !same_allocator(&a[0], &a[2]);
    }
    for (int d = 0; d < 3; d++) {
        static counting_hook h;
        char name[128];
        snprintf(name, sizeof name, "domain %d: a custom allocator reads back bit-for-bit; name NULL while installed, \"pymalloc\" after restore (item 9)", d);
        CHECK_BODY(name) {
            phn_allocator orig, got, want;
            phn_get_allocator(d, &orig);
            result = hook_install(&h, d) == 0;
            want.ctx = &h;
            want.malloc = ch_malloc;
            want.calloc = ch_calloc;
            want.realloc = ch_realloc;
            want.free = ch_free;
            memset(&got, 0, sizeof got);
            phn_get_allocator(d, &got);
            result = result && same_allocator(&got, &want) && same_allocator(&h.prev, &orig) && name_is(NULL);
            /* it is used */
            void* p = d == 0 ? phn_raw_malloc(40) : d == 1 ? phn_mem_malloc(40) : phn_obj_malloc(40);
            result = result && p && HOOK_GET(h.malloc_calls) == 1 && U(h.last_result) == U(p);
            if (d == 0) phn_raw_free(p);
            else if (d == 1) phn_mem_free(p);
            else phn_obj_free(p);
            result = result && HOOK_GET(h.free_calls) == 1;
            result = result && hook_uninstall(&h) == 0;
            phn_get_allocator(d, &got);
            result = result && same_allocator(&got, &orig) && name_is("pymalloc");
        }
    }
    CHECK_BODY("arena allocator: get -> set -> get round-trips bit for bit; a custom one reads back (item 9)") {
        static arena_counter ac;
        phn_arena_allocator orig, got, mine;
        memset(&orig, 0, sizeof orig);
        result = phn_get_arena_allocator(&orig) == PHN_OK && orig.alloc && orig.free;
        result = result && phn_set_arena_allocator(&orig) == PHN_OK;
        memset(&got, 0, sizeof got);
        phn_get_arena_allocator(&got);
        result = result && memcmp(&got, &orig, sizeof got) == 0;
        arena_counter_init(&ac, ARENA_FORWARD);
        mine.ctx = &ac;
        mine.alloc = ac_alloc;
        mine.free = ac_free;
        result = result && phn_set_arena_allocator(&mine) == PHN_OK;
        memset(&got, 0, sizeof got);
        phn_get_arena_allocator(&got);
        result = result && memcmp(&got, &mine, sizeof got) == 0;
        result = result && phn_set_arena_allocator(&orig) == PHN_OK;
        memset(&got, 0, sizeof got);
        phn_get_arena_allocator(&got);
        result = result && memcmp(&got, &orig, sizeof got) == 0 && name_is("pymalloc");
    }
}

/* item 9: a wrapping hook sees every MEM and OBJ call */
static void test_exact_counts(void) {
    static counting_hook hm, ho;
    CHECK("install counting hooks on MEM and OBJ", hook_install(&hm, PHN_DOMAIN_MEM) == 0 && hook_install(&ho, PHN_DOMAIN_OBJ) == 0);
    CHECK_BODY("phn_allocator_name() is NULL while MEM/OBJ are customised") { result = name_is(NULL); }
    for (int dom = 1; dom <= 2; dom++) {
        counting_hook* h = dom == 1 ? &hm : &ho;
        counting_hook* other = dom == 1 ? &ho : &hm;
        void* (*m)(size_t) = dom == 1 ? phn_mem_malloc : phn_obj_malloc;
        void* (*c)(size_t, size_t) = dom == 1 ? phn_mem_calloc : phn_obj_calloc;
        void* (*r)(void*, size_t) = dom == 1 ? phn_mem_realloc : phn_obj_realloc;
        void (*f)(void*) = dom == 1 ? phn_mem_free : phn_obj_free;
        char name[160];
        snprintf(name, sizeof name, "%s hook sees exactly 3 malloc, 2 calloc, 3 realloc, 6 free calls with their arguments (item 9)",
                 dom == 1 ? "MEM" : "OBJ");
        CHECK_BODY(name) {
            long m0 = HOOK_GET(h->malloc_calls), c0 = HOOK_GET(h->calloc_calls), r0 = HOOK_GET(h->realloc_calls),
                 f0 = HOOK_GET(h->free_calls);
            long om = HOOK_GET(other->malloc_calls), oc = HOOK_GET(other->calloc_calls), orr = HOOK_GET(other->realloc_calls),
                 of = HOOK_GET(other->free_calls);
            result = true;
            void* p1 = m(10);
            if (h->last_malloc_size != 10 || U(h->last_result) != U(p1)) result = false;
            void* p2 = m(0);
            if (h->last_malloc_size != 0 || U(h->last_result) != U(p2)) result = false;
            void* p3 = m(1000);
            if (h->last_malloc_size != 1000 || U(h->last_result) != U(p3)) result = false;
            void* p4 = c(3, 7);
            if (h->last_calloc_nelem != 3 || h->last_calloc_elsize != 7 || U(h->last_result) != U(p4)) result = false;
            void* p5 = c(0, 0);
            if (h->last_calloc_nelem != 0 || h->last_calloc_elsize != 0) result = false;
            void* p6 = r(NULL, 20);
            if (h->last_realloc_ptr != NULL || h->last_realloc_size != 20 || U(h->last_result) != U(p6)) result = false;
            void* p6b = r(p6, 600);
            if (U(h->last_realloc_ptr) != U(p6) || h->last_realloc_size != 600) result = false;
            void* p1b = r(p1, 0);
            if (U(h->last_realloc_ptr) != U(p1) || h->last_realloc_size != 0) result = false;
            result = result && p1 && p2 && p3 && p4 && p5 && p6 && p6b && p1b;
            f(p1b);
            f(p2);
            f(p3);
            f(p4);
            f(p5);
            f(p6b);
            result = result && U(h->last_free_ptr) == U(p6b);
            result = result && HOOK_GET(h->malloc_calls) - m0 == 3 && HOOK_GET(h->calloc_calls) - c0 == 2 &&
                     HOOK_GET(h->realloc_calls) - r0 == 3 && HOOK_GET(h->free_calls) - f0 == 6;
            result = result && HOOK_GET(other->malloc_calls) == om && HOOK_GET(other->calloc_calls) == oc &&
                     HOOK_GET(other->realloc_calls) == orr && HOOK_GET(other->free_calls) == of;
            if (!result)
                fprintf(stderr, "\n  counts: malloc %ld calloc %ld realloc %ld free %ld\n", HOOK_GET(h->malloc_calls) - m0,
                        HOOK_GET(h->calloc_calls) - c0, HOOK_GET(h->realloc_calls) - r0, HOOK_GET(h->free_calls) - f0);
        }
        snprintf(name, sizeof name, "%s: free(NULL) is passed to the hook's free, as CPython's wrapper does", dom == 1 ? "MEM" : "OBJ");
        CHECK_BODY(name) {
            long f0 = HOOK_GET(h->free_null_calls);
            errno = 4242;
            f(NULL);
            result = HOOK_GET(h->free_null_calls) == f0 + 1 && errno == 4242;
        }
        snprintf(name, sizeof name, "%s: 1000 mixed calls, every one seen by the hook", dom == 1 ? "MEM" : "OBJ");
        CHECK_BODY(name) {
            long t0 = HOOK_GET(h->malloc_calls) + HOOK_GET(h->calloc_calls) + HOOK_GET(h->realloc_calls) + HOOK_GET(h->free_calls);
            void* v[250];
            for (int i = 0; i < 250; i++) v[i] = (i % 3 == 0) ? c((size_t)i, 3) : m((size_t)(i * 5));
            for (int i = 0; i < 250; i++) v[i] = r(v[i], (size_t)(i * 7 % 900));
            for (int i = 0; i < 250; i++) v[i] = r(v[i], (size_t)(i % 40));
            for (int i = 0; i < 250; i++) f(v[i]);
            long t1 = HOOK_GET(h->malloc_calls) + HOOK_GET(h->calloc_calls) + HOOK_GET(h->realloc_calls) + HOOK_GET(h->free_calls);
            result = t1 - t0 == 1000;
        }
    }
    CHECK("remove the MEM and OBJ hooks", hook_uninstall(&ho) == 0 && hook_uninstall(&hm) == 0);
    CHECK_BODY("phn_allocator_name() is \"pymalloc\" again") { result = name_is("pymalloc"); }
}

/* items 3 and 4: the hook is not called */
static void test_hook_not_called_for_huge(void) {
    static counting_hook h[3];
    CHECK("install counting hooks on RAW, MEM and OBJ",
          hook_install(&h[0], 0) == 0 && hook_install(&h[1], 1) == 0 && hook_install(&h[2], 2) == 0);
    for (int d = 0; d < 3; d++) {
        void* (*m)(size_t) = d == 0 ? phn_raw_malloc : d == 1 ? phn_mem_malloc : phn_obj_malloc;
        void* (*c)(size_t, size_t) = d == 0 ? phn_raw_calloc : d == 1 ? phn_mem_calloc : phn_obj_calloc;
        void* (*r)(void*, size_t) = d == 0 ? phn_raw_realloc : d == 1 ? phn_mem_realloc : phn_obj_realloc;
        void (*f)(void*) = d == 0 ? phn_raw_free : d == 1 ? phn_mem_free : phn_obj_free;
        char name[160];
        snprintf(name, sizeof name, "domain %d: malloc/realloc above PTRDIFF_MAX and calloc overflow: NULL, ENOMEM, no hook call (items 3, 4)", d);
        CHECK_BODY(name) {
            void* p = m(64);
            if (p) fill_pattern(p, 64, 77);
            long before[3][4];
            for (int k = 0; k < 3; k++) {
                before[k][0] = HOOK_GET(h[k].malloc_calls);
                before[k][1] = HOOK_GET(h[k].calloc_calls);
                before[k][2] = HOOK_GET(h[k].realloc_calls);
                before[k][3] = HOOK_GET(h[k].free_calls);
            }
            int e[6];
            void* x[6];
            errno = 0; x[0] = m(too_big); e[0] = errno;
            errno = 0; x[1] = m(size_max); e[1] = errno;
            errno = 0; x[2] = r(p, too_big); e[2] = errno;
            errno = 0; x[3] = r(NULL, size_max); e[3] = errno;
            errno = 0; x[4] = c(two, half_plus_one); e[4] = errno;
            errno = 0; x[5] = c(two_pow_33, two_pow_33); e[5] = errno;
            result = p != NULL;
            for (int k = 0; k < 6; k++)
                if (x[k] != NULL || e[k] != ENOMEM) {
                    fprintf(stderr, "\n  call %d: %p errno %d\n", k, x[k], e[k]);
                    result = false;
                }
            for (int k = 0; k < 3; k++)
                if (HOOK_GET(h[k].malloc_calls) != before[k][0] || HOOK_GET(h[k].calloc_calls) != before[k][1] ||
                    HOOK_GET(h[k].realloc_calls) != before[k][2] || HOOK_GET(h[k].free_calls) != before[k][3]) {
                    fprintf(stderr, "\n  hook of domain %d was called\n", k);
                    result = false;
                }
            result = result && check_pattern(p, 64, 77);
            f(p);
        }
    }
    CHECK("remove the hooks", hook_uninstall(&h[2]) == 0 && hook_uninstall(&h[1]) == 0 && hook_uninstall(&h[0]) == 0);
}

/* an allocator installed on RAW serves pymalloc's fallback */
static void test_raw_hook_fallback(void) {
    static counting_hook raw;
    CHECK("install a counting hook on RAW", hook_install(&raw, PHN_DOMAIN_RAW) == 0);
    CHECK_BODY("phn_allocator_name() is NULL while RAW is customised") { result = name_is(NULL); }
    CHECK_BODY("pymalloc's fallback uses the RAW hook: obj malloc(0), mem malloc(1000), obj calloc(2, 300), realloc 16 -> 2000") {
        long m0 = HOOK_GET(raw.malloc_calls), c0 = HOOK_GET(raw.calloc_calls), f0 = HOOK_GET(raw.free_calls);
        void* a = phn_obj_malloc(0);
        int ra = HOOK_GET(raw.malloc_calls) == m0 + 1 && raw.last_malloc_size == 0 && U(raw.last_result) == U(a);
        void* b = phn_mem_malloc(1000);
        int rb = HOOK_GET(raw.malloc_calls) == m0 + 2 && raw.last_malloc_size == 1000 && U(raw.last_result) == U(b);
        void* c = phn_obj_calloc(2, 300);
        int rc = HOOK_GET(raw.calloc_calls) == c0 + 1 && raw.last_calloc_nelem == 2 && raw.last_calloc_elsize == 300;
        void* s = phn_obj_malloc(16);
        int rs = HOOK_GET(raw.malloc_calls) == m0 + 2;  /* 16 bytes: pymalloc, not RAW */
        void* d = s ? phn_obj_realloc(s, 2000) : NULL;
        int rd = HOOK_GET(raw.malloc_calls) == m0 + 3 && raw.last_malloc_size == 2000 && U(raw.last_result) == U(d);
        result = a && b && c && s && d && ra && rb && rc && rs && rd && all_zero(c, 600);
        phn_obj_free(a);
        phn_mem_free(b);
        phn_obj_free(c);
        phn_obj_free(d);
        result = result && HOOK_GET(raw.free_calls) == f0 + 4;
    }
    CHECK("remove the RAW hook", hook_uninstall(&raw) == 0);
    CHECK_BODY("phn_allocator_name() is \"pymalloc\" again") { result = name_is("pymalloc"); }
}

/* ------------------------------------------------------------------ PYHEAPNATIVE_ALLOCATOR */
static int child_name(void) {
    /* the first call starts the library (and reads PYHEAPNATIVE_ALLOCATOR) */
    const char* nm = phn_allocator_name();
    printf("name=%s\n", nm ? nm : "(null)");
    char buf[64];
    memset(buf, 'X', sizeof buf);
    long long f = (long long)phn_format_malloc_stats(buf, sizeof buf);
    long long f0 = (long long)phn_format_malloc_stats(NULL, 0);
    int untouched = 1;   /* beyond the terminating NUL */
    for (size_t i = 1; i < sizeof buf; i++)
        if (buf[i] != 'X') untouched = 0;
    printf("fmt=%lld fmt0=%lld untouched=%d empty=%d\n", f, f0, untouched, buf[0] == '\0');
    phn_stats s0, s1;
    int rc0 = stats_get(&s0);
    void* v[100];
    int alloc_ok = 1;
    for (int i = 0; i < 100; i++) {
        v[i] = phn_obj_malloc(16);
        if (!v[i] || (U(v[i]) & 15)) alloc_ok = 0;
        else memset(v[i], 1, 16);
    }
    int rc1 = stats_get(&s1);
    printf("stats_rc=%d pymalloc_delta=%lld alloc_ok=%d\n", rc0 != 0 ? rc0 : rc1,
           (long long)(s1.size_classes[0].blocks_in_use - s0.size_classes[0].blocks_in_use), alloc_ok);
    for (int i = 0; i < 100; i++) phn_obj_free(v[i]);
    fflush(stdout);
    return 0;
}

static void run_name_child(const char* value, child_result* r) {
    char env[128];
    snprintf(env, sizeof env, "PYHEAPNATIVE_ALLOCATOR=%s", value);
    const char* envs[] = {env, NULL};
    if (run_self("--child-name", NULL, value ? envs : NULL, r) != 0) {
        memset(r, 0, sizeof *r);
        r->out = strdup("");
        r->err = strdup("");
    }
}

static void test_env_accepted(const char* value, const char* want_name, int pymalloc_active) {
    child_result r;
    run_name_child(value, &r);
    char name[160], line[64];
    snprintf(name, sizeof name, "PYHEAPNATIVE_ALLOCATOR=%s: child runs, phn_allocator_name() == \"%s\" (item 38)",
             value ? value : "(unset)", want_name);
    snprintf(line, sizeof line, "name=%s\n", want_name);
    CHECK_BODY(name) {
        result = r.exited && r.exit_code == 0 && strstr(r.out, line) != NULL;
        if (!result) {
            fprintf(stderr, "\n  child ");
            describe_child(&r);
            echo_prefixed("out", r.out);
            echo_prefixed("err", r.err);
        }
    }
    snprintf(name, sizeof name, "PYHEAPNATIVE_ALLOCATOR=%s: allocation works, phn_get_stats succeeds", value ? value : "(unset)");
    CHECK_BODY(name) { result = r.exited && strstr(r.out, "alloc_ok=1") && strstr(r.out, "stats_rc=0 "); }
    if (pymalloc_active) {
        snprintf(name, sizeof name, "PYHEAPNATIVE_ALLOCATOR=%s: 16-byte blocks come from pymalloc; stats text available", value ? value : "(unset)");
        CHECK_BODY(name) {
            long long f = -1, f0 = -1;
            int untouched = 1;
            const char* p = strstr(r.out, "fmt=");
            result = r.exited && strstr(r.out, "pymalloc_delta=100 ") && p &&
                     sscanf(p, "fmt=%lld fmt0=%lld untouched=%d", &f, &f0, &untouched) == 3 && f > 0 && f == f0 &&
                     untouched == 0;
        }
    } else {
        snprintf(name, sizeof name, "PYHEAPNATIVE_ALLOCATOR=%s: phn_format_malloc_stats returns 0 and writes only an empty string (item 29)", value);
        CHECK_BODY(name) {
            result = r.exited && strstr(r.out, "fmt=0 fmt0=0 untouched=1 empty=1\n") != NULL;
            if (!result) echo_prefixed("out", r.out);
        }
        snprintf(name, sizeof name, "PYHEAPNATIVE_ALLOCATOR=%s: no pymalloc blocks are used", value);
        CHECK_BODY(name) { result = r.exited && strstr(r.out, "pymalloc_delta=0 ") != NULL; }
    }
    child_result_free(&r);
}

static void test_env_value(const char* value, int must_die, const char* debug_name) {
    child_result r;
    run_name_child(value, &r);
    char name[200];
    if (must_die) {
        snprintf(name, sizeof name, "PYHEAPNATIVE_ALLOCATOR=%s: fatal error, SIGABRT, stderr names the variable and says \"unknown allocator\" (item 38)", value);
        CHECK_BODY(name) {
            result = r.signaled && r.signo == SIGABRT && strstr(r.err, "PYHEAPNATIVE_ALLOCATOR") &&
                     strstr(r.err, "unknown allocator") && strstr(r.out, "name=") == NULL;
            if (!result) {
                fprintf(stderr, "\n  child ");
                describe_child(&r);
                echo_prefixed("out", r.out);
                echo_prefixed("err", r.err);
            }
        }
        snprintf(name, sizeof name, "PYHEAPNATIVE_ALLOCATOR=%s: the message starts with \"Fatal error: \" and lists accepted values", value);
        CHECK_BODY(name) { result = strstr(r.err, "Fatal error: ") != NULL && strstr(r.err, "pymalloc") != NULL; }
    } else {
        /* the debug hooks: the child runs and reports the debug configuration's name */
        snprintf(name, sizeof name, "PYHEAPNATIVE_ALLOCATOR=%s: accepted, the child runs as \"%s\" (no fatal error)", value, debug_name);
        CHECK_BODY(name) {
            char line[64];
            snprintf(line, sizeof line, "name=%s\n", debug_name);
            result = r.exited && r.exit_code == 0 && strstr(r.out, line) != NULL && strstr(r.err, "Fatal error") == NULL;
            if (!result) {
                describe_child(&r);
                echo_prefixed("out", r.out);
                echo_prefixed("err", r.err);
            }
        }
    }
    child_result_free(&r);
}

int main(int argc, char** argv) {
    alarm(120);
    if (argc > 1 && strcmp(argv[1], "--child-name") == 0) return child_name();

    test_unknown_domain();
    test_round_trip();
    test_exact_counts();
    test_hook_not_called_for_huge();
    test_raw_hook_fallback();

    test_env_accepted(NULL, "pymalloc", 1);
    test_env_accepted("pymalloc", "pymalloc", 1);
    test_env_accepted("default", "pymalloc", 1);
    test_env_accepted("", "pymalloc", 1);
    test_env_accepted("malloc", "malloc", 0);
    test_env_value("bogus", 1, NULL);
    test_env_value("PYMALLOC", 1, NULL);
    test_env_value("debug", 0, "pymalloc_debug");
    test_env_value("pymalloc_debug", 0, "pymalloc_debug");
    test_env_value("malloc_debug", 0, "malloc_debug");

    CHECK_BODY("phn_validate() == 0 at the end") { result = phn_validate() == 0; }
    return print_test_summary();
}
