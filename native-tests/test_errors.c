/* test_errors.c - the error contract (DESIGN.md §2, §5; phn_runtime.h, phn_testing.h):
 * phn_init / phn_version, the thread-local last error, the error handler, the fatal handler
 * (in child processes), and faults injected inside the library (a managed exception must be
 * turned into an error at the C boundary, never cross it). */
#include "testhelper.h"
#include "phn_test_common.h"

#include <pthread.h>

static int mentions_fault(const char* m) {
    return contains_ci(m, "exception") || contains_ci(m, "inject") || contains_ci(m, "fault");
}

/* ------------------------------------------------------------------ error handler */
typedef struct handler_rec {
    int calls;
    int32_t code;
    char msg[512];
    void* ctx;
    pthread_t thread;
    int msg_matches_last;
    int32_t inner_validate_rc;
    int do_inner;
} handler_rec;

static void PHN_CALL on_error(void* ctx, int32_t code, const char* message) {
    handler_rec* h = (handler_rec*)ctx;
    h->calls++;
    h->code = code;
    h->ctx = ctx;
    h->thread = pthread_self();
    snprintf(h->msg, sizeof h->msg, "%s", message ? message : "(null)");
    const char* last = phn_last_error_message();
    h->msg_matches_last = message && last && strcmp(message, last) == 0;
    /* not called with a library lock held: taking the heap lock here must not deadlock */
    if (h->do_inner) h->inner_validate_rc = phn_validate();
}

/* ------------------------------------------------------------------ per-thread state */
typedef struct thread_probe {
    char initial_msg[256];
    int32_t initial_code;
    int initial_msg_null;
    int32_t rc;
    char msg_after[256];
    int32_t code_after;
} thread_probe;

static void* probe_thread(void* arg) {
    thread_probe* t = (thread_probe*)arg;
    const char* m = phn_last_error_message();
    t->initial_msg_null = m == NULL;
    snprintf(t->initial_msg, sizeof t->initial_msg, "%s", m ? m : "");
    t->initial_code = phn_last_error_code();
    phn_allocator a;
    t->rc = phn_get_allocator(9, &a);
    m = phn_last_error_message();
    snprintf(t->msg_after, sizeof t->msg_after, "%s", m ? m : "(null)");
    t->code_after = phn_last_error_code();
    return NULL;
}

static void test_last_error(void) {
    CHECK_BODY("phn_last_error_message() is \"\" (never NULL) and phn_last_error_code() 0 before any failure") {
        const char* m = phn_last_error_message();
        result = m != NULL && m[0] == 0 && phn_last_error_code() == 0;
    }
    CHECK("phn_init() returns 0", phn_init() == PHN_OK);
    CHECK("phn_init() again returns 0 (idempotent)", phn_init() == PHN_OK);
    CHECK("phn_version() == PHN_VERSION of the header", phn_version() == (uint32_t)PHN_VERSION);
    CHECK_BODY("still no error after successful calls") {
        void* p = phn_obj_malloc(10);
        phn_obj_free(p);
        result = phn_last_error_message()[0] == 0 && phn_last_error_code() == 0;
    }

    phn_allocator a;
    int32_t rc = phn_get_allocator(7, &a);
    const char* m1 = phn_last_error_message();
    char saved[512];
    snprintf(saved, sizeof saved, "%s", m1 ? m1 : "");
    fprintf(stderr, "message for phn_get_allocator(7): \"%s\"\n", saved);
    CHECK_BODY("phn_get_allocator(7, &a) fails: PHN_EINVAL, code PHN_EINVAL, a message naming the domain") {
        result = rc == PHN_EINVAL && phn_last_error_code() == PHN_EINVAL && m1 != NULL && m1[0] != 0 && contains_ci(m1, "domain");
    }
    CHECK_BODY("successful calls do not clear it; the pointer stays valid") {
        phn_stats s;
        int ok1 = stats_get(&s) == PHN_OK;
        void* p = phn_mem_malloc(100);
        phn_mem_free(p);
        int ok2 = phn_validate() == 0;
        const char* m2 = phn_last_error_message();
        result = ok1 && ok2 && strcmp(m2, saved) == 0 && strcmp(m1, saved) == 0 && phn_last_error_code() == PHN_EINVAL;
    }
    CHECK_BODY("the last error is per thread: another thread sees \"\" / 0; its own failure does not change ours") {
        thread_probe t;
        memset(&t, 0, sizeof t);
        pthread_t th;
        result = pthread_create(&th, NULL, probe_thread, &t) == 0;
        if (result) pthread_join(th, NULL);
        result = result && !t.initial_msg_null && t.initial_msg[0] == 0 && t.initial_code == 0 && t.rc == PHN_EINVAL &&
                 t.msg_after[0] != 0 && t.code_after == PHN_EINVAL && strcmp(phn_last_error_message(), saved) == 0 &&
                 phn_last_error_code() == PHN_EINVAL;
    }
    CHECK_BODY("a new failure replaces the message: phn_get_stats(NULL)") {
        int32_t r2 = phn_get_stats(NULL);
        const char* m = phn_last_error_message();
        result = r2 == PHN_EINVAL && m && m[0] != 0 && phn_last_error_code() == PHN_EINVAL;
        fprintf(stderr, "(\"%s\") ", m ? m : "(null)");
    }
    CHECK_BODY("phn_clear_error(): message \"\" and code 0") {
        phn_clear_error();
        const char* m = phn_last_error_message();
        result = m != NULL && m[0] == 0 && phn_last_error_code() == 0;
    }
    CHECK_BODY("other invalid arguments report PHN_EINVAL with a message") {
        result = true;
        phn_clear_error();
        if (phn_set_allocator(PHN_DOMAIN_MEM, NULL) != PHN_EINVAL || phn_last_error_message()[0] == 0) result = false;
        phn_clear_error();
        if (phn_set_arena_allocator(NULL) != PHN_EINVAL || phn_last_error_message()[0] == 0) result = false;
        phn_clear_error();
        if (phn_get_allocator(PHN_DOMAIN_OBJ, NULL) != PHN_EINVAL || phn_last_error_message()[0] == 0) result = false;
        phn_clear_error();
    }
    CHECK_BODY("a failed allocation sets errno ENOMEM (allocation functions keep C semantics)") {
        volatile size_t huge = (size_t)PTRDIFF_MAX + 1;
        errno = 0;
        void* p = phn_obj_malloc(huge);
        result = p == NULL && errno == ENOMEM && phn_last_error_message() != NULL;
        phn_clear_error();
    }
}

static void* failing_thread(void* arg) {
    (void)arg;
    phn_allocator a;
    phn_get_allocator(-3, &a);
    return NULL;
}

static void test_error_handler(void) {
    static handler_rec h;
    memset(&h, 0, sizeof h);
    h.do_inner = 1;
    h.inner_validate_rc = 12345;
    CHECK("phn_set_error_handler(handler, ctx) == PHN_OK", phn_set_error_handler(on_error, &h) == PHN_OK);
    CHECK_BODY("a failing call invokes the handler once, with code, message (== last message) and ctx, on the failing thread") {
        phn_allocator a;
        int32_t rc = phn_get_allocator(7, &a);
        result = rc == PHN_EINVAL && h.calls == 1 && h.code == PHN_EINVAL && h.msg[0] != 0 && h.msg_matches_last && h.ctx == &h &&
                 pthread_equal(h.thread, pthread_self()) && strcmp(h.msg, phn_last_error_message()) == 0;
    }
    CHECK_BODY("the handler is not called with a library lock held (phn_validate inside it returns 0)") {
        result = h.inner_validate_rc == 0;
    }
    CHECK_BODY("successful calls do not invoke the handler") {
        int before = h.calls;
        void* p = phn_obj_malloc(64);
        phn_obj_free(p);
        phn_stats s;
        stats_get(&s);
        result = h.calls == before;
    }
    CHECK_BODY("a failure on another thread invokes the handler on that thread") {
        int before = h.calls;
        pthread_t th;
        result = pthread_create(&th, NULL, failing_thread, NULL) == 0;
        if (result) pthread_join(th, NULL);
        result = result && h.calls == before + 1 && h.code == PHN_EINVAL && !pthread_equal(h.thread, pthread_self());
    }
    CHECK_BODY("phn_set_error_handler(NULL, NULL) restores the default: no more calls") {
        int before = h.calls;
        result = phn_set_error_handler(NULL, NULL) == PHN_OK;
        phn_allocator a;
        phn_get_allocator(8, &a);
        result = result && h.calls == before && phn_last_error_code() == PHN_EINVAL;
        phn_clear_error();
    }
}

/* ------------------------------------------------------------------ fault injection */
static void test_fault_stats(void) {
    static handler_rec h;
    memset(&h, 0, sizeof h);
    phn_set_error_handler(on_error, &h);
    CHECK("phn_testing_inject_fault(unknown fault, 1) == PHN_EINVAL", phn_testing_inject_fault(99, 1) == PHN_EINVAL);
    CHECK("phn_testing_inject_fault(PHN_FAULT_THROW_IN_STATS, 1) == PHN_OK", phn_testing_inject_fault(PHN_FAULT_THROW_IN_STATS, 1) == PHN_OK);
    CHECK_BODY("PHN_FAULT_THROW_IN_STATS: phn_get_stats returns PHN_EINTERNAL, message and handler report the exception") {
        phn_stats s;
        phn_clear_error();
        int before = h.calls;
        int32_t rc = stats_get(&s);
        const char* m = phn_last_error_message();
        fprintf(stderr, "(\"%s\") ", m ? m : "(null)");
        result = rc == PHN_EINTERNAL && phn_last_error_code() == PHN_EINTERNAL && m && m[0] && mentions_fault(m) &&
                 h.calls == before + 1 && h.code == PHN_EINTERNAL;
    }
    CHECK_BODY("the following phn_get_stats works") {
        phn_stats s;
        result = stats_get(&s) == PHN_OK && stats_consistent(&s);
    }
    CHECK_BODY("countdown 2: the first call works, the second fails, the third works") {
        phn_stats s;
        result = phn_testing_inject_fault(PHN_FAULT_THROW_IN_STATS, 2) == PHN_OK;
        int32_t r1 = stats_get(&s), r2 = stats_get(&s), r3 = stats_get(&s);
        result = result && r1 == PHN_OK && r2 == PHN_EINTERNAL && r3 == PHN_OK;
    }
    phn_set_error_handler(NULL, NULL);
    phn_clear_error();
}

static void test_fault_new_arena(void) {
    static void* v[20000];
    size_t n = 0;
    phn_stats s0 = stats_now();
    phn_clear_error();
    CHECK("phn_testing_inject_fault(PHN_FAULT_THROW_IN_NEW_ARENA, 1) == PHN_OK",
          phn_testing_inject_fault(PHN_FAULT_THROW_IN_NEW_ARENA, 1) == PHN_OK);
    int got_null = 0, saved_errno = 0, fired = 0;
    while (n < 20000) {
        errno = 0;
        void* p = phn_obj_malloc(512);
        if (!p) {
            got_null = 1;
            saved_errno = errno;
            break;
        }
        v[n++] = p;
        if (phn_last_error_code() != 0) { fired = 1; break; }
    }
    const char* m = phn_last_error_message();
    fprintf(stderr, "fault in new_arena after %zu blocks: %s, message \"%s\"\n", n, got_null ? "NULL" : fired ? "served (fallback)" : "never fired",
            m ? m : "(null)");
    CHECK_BODY("the allocation that needed a new arena: NULL with errno ENOMEM, or served by the RAW fallback") {
        result = (got_null && saved_errno == ENOMEM) || fired;
    }
    CHECK_BODY("... the process survived and the error names the exception / injected fault") {
        result = m && m[0] && mentions_fault(m) && phn_last_error_code() != 0;
    }
    CHECK_BODY("... the heap is valid (phn_validate() == 0), stats consistent") {
        phn_stats s = stats_now();
        result = phn_validate() == 0 && stats_consistent(&s);
    }
    CHECK_BODY("... the next allocation works, and a new arena can be allocated afterwards") {
        phn_stats s1 = stats_now();
        result = true;
        while (n < 20000) {
            void* p = phn_obj_malloc(512);
            if (!p) { result = false; break; }
            v[n++] = p;
            phn_stats s = stats_now();
            if (s.arenas_allocated_total > s1.arenas_allocated_total) break;
        }
        phn_stats s2 = stats_now();
        result = result && s2.arenas_allocated_total == s1.arenas_allocated_total + 1 && phn_validate() == 0;
    }
    for (size_t i = 0; i < n; i++) phn_obj_free(v[i]);
    CHECK_BODY("after freeing everything: counts back to the start, heap valid") {
        phn_stats s = stats_now();
        result = s.allocated_blocks == s0.allocated_blocks && s.raw_allocated_blocks == s0.raw_allocated_blocks &&
                 stats_consistent(&s) && phn_validate() == 0;
    }
    phn_clear_error();
}

/* ------------------------------------------------------------------ fatal handler (children) */
static int fatal_calls;
static char fatal_msg[512];
static void* fatal_ctx;

static void PHN_CALL on_fatal(void* ctx, const char* message) {
    fatal_calls++;
    fatal_ctx = ctx;
    snprintf(fatal_msg, sizeof fatal_msg, "%s", message ? message : "(null)");
}

static int child_fatal_handler(void) {
    static int my_ctx;
    int32_t set_rc = phn_set_fatal_handler(on_fatal, &my_ctx);
    int32_t init_rc = phn_init();
    const char* nm = phn_allocator_name();
    void* p = phn_obj_malloc(10);
    printf("set_rc=%d init_rc=%d calls=%d var=%d unknown=%d ctx=%d name=%s alloc=%d\n", set_rc, init_rc, fatal_calls,
           strstr(fatal_msg, "PYHEAPNATIVE_ALLOCATOR") != NULL, strstr(fatal_msg, "unknown allocator") != NULL,
           fatal_ctx == &my_ctx, nm ? nm : "(null)", p != NULL);
    printf("message=%s\n", fatal_msg);
    phn_obj_free(p);
    fflush(stdout);
    return 0;
}

static int child_fatal_restored(void) {
    static int my_ctx;
    phn_set_fatal_handler(on_fatal, &my_ctx);
    phn_set_fatal_handler(NULL, NULL);
    phn_init();
    printf("survived calls=%d\n", fatal_calls);
    fflush(stdout);
    return 0;
}

static void test_fatal(void) {
    CHECK_BODY("phn_set_fatal_handler(handler, ctx) and (NULL, NULL) return PHN_OK") {
        static int c;
        result = phn_set_fatal_handler(on_fatal, &c) == PHN_OK && phn_set_fatal_handler(NULL, NULL) == PHN_OK && fatal_calls == 0;
    }
    const char* bogus[] = {"PYHEAPNATIVE_ALLOCATOR=bogus", NULL};
    child_result r;
    run_self("--child-fatal-handler", NULL, bogus, &r);
    CHECK_BODY("fatal handler installed before start, PYHEAPNATIVE_ALLOCATOR=bogus: called once with ctx and a message naming the variable") {
        result = r.exited && r.exit_code == 0 && strstr(r.out, "set_rc=0 ") && strstr(r.out, " calls=1 ") && strstr(r.out, " var=1 ") &&
                 strstr(r.out, " unknown=1 ") && strstr(r.out, " ctx=1 ");
        if (!result) { describe_child(&r); echo_prefixed("out", r.out); echo_prefixed("err", r.err); }
    }
    CHECK_BODY("... the handler returned: phn_init returns PHN_EINVAL, the default allocator is used and works") {
        result = r.exited && strstr(r.out, " init_rc=-1 ") && strstr(r.out, " name=pymalloc ") && strstr(r.out, " alloc=1\n");
    }
    CHECK_BODY("... nothing printed to stderr by the default handler") { result = r.err && strstr(r.err, "Fatal error") == NULL; }
    child_result_free(&r);

    run_self("--child-fatal-restored", NULL, bogus, &r);
    CHECK_BODY("handler set then reset to NULL: the default handler runs: \"Fatal error: \" on stderr, SIGABRT") {
        result = r.signaled && r.signo == SIGABRT && strstr(r.err, "Fatal error: ") && strstr(r.err, "PYHEAPNATIVE_ALLOCATOR") &&
                 strstr(r.out, "survived") == NULL;
        if (!result) { describe_child(&r); echo_prefixed("out", r.out); echo_prefixed("err", r.err); }
    }
    child_result_free(&r);
}

int main(int argc, char** argv) {
    alarm(120);
    if (argc > 1 && strcmp(argv[1], "--child-fatal-handler") == 0) return child_fatal_handler();
    if (argc > 1 && strcmp(argv[1], "--child-fatal-restored") == 0) return child_fatal_restored();

    test_last_error();  /* first: checks the state before any failure */
    test_error_handler();
    test_fault_stats();
    test_fault_new_arena();
    test_fatal();
    CHECK("phn_validate() == 0 at the end", phn_validate() == 0);
    return print_test_summary();
}
