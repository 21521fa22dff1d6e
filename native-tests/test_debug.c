/* test_debug.c - CPython's debug hooks on the allocators (phn_setup_debug_hooks and
 * PYHEAPNATIVE_ALLOCATOR=debug / pymalloc_debug / malloc_debug): spec-allocator.md §3 and §2.8,
 * §7 items 30-35 and 37, and the bad-input rows of reliability.md §4 (goal 6).
 *
 * Everything that installs the hooks runs in a child process (this binary again, see
 * run_self): the parent keeps the default configuration.
 *
 *   --suite:<alloc>   PYHEAPNATIVE_ALLOCATOR=<alloc> (pymalloc_debug, malloc_debug, debug):
 *                     30 block layout in every domain; 31 calloc / malloc / realloc bytes;
 *                     33 the 488/489 threshold in the stats; 37 a second setup changes nothing;
 *                     phn_allocator_name; sizes near PTRDIFF_MAX; a fatal handler that returns
 *                     (bad pad, bad id, double free, interior and foreign pointers: the call
 *                     does nothing, realloc returns NULL, the heap stays valid); random traffic
 *                     with content checks; two threads
 *   --custom:<alloc>  default or PYHEAPNATIVE_ALLOCATOR=malloc: recording allocators installed
 *                     under phn_setup_debug_hooks(): 32 free poisons the whole block with 0xDD,
 *                     realloc poisons the old block before moving it, a failed realloc rebuilds
 *                     the block; 33 the overhead is 24 bytes and user sizes 489+ reach RAW;
 *                     37 a second setup wraps nothing twice; setup after phn_set_allocator wraps
 *                     the new allocator
 *   --rewrap:<alloc>  phn_setup_debug_hooks() names, and re-wrapping a restored built-in
 *   --prefix:<alloc>  a custom allocator that keeps a header of its own, under the hooks
 *   --fatal <name>    one bad call, with the default fatal handler: the parent checks SIGABRT
 *                     (never SIGSEGV) and matches stderr with POSIX regular expressions -
 *                     CPython's test_capi/test_mem.py ones (34, 35), exact dumps, and the
 *                     diagnoses beyond CPython (double free, interior and foreign pointers)
 */
#include "testhelper.h"
#include "phn_test_common.h"

#include <pthread.h>

#define DBG_S 8
#define DBG_OVERHEAD 24
#define CLEANBYTE 0xCD
#define DEADBYTE 0xDD
#define FORBIDDENBYTE 0xFD

static volatile size_t near_max = (size_t)PTRDIFF_MAX - 8;  /* accepted by the wrappers, too big for the hooks */

/* ------------------------------------------------------------------ domains */

typedef struct dom {
    const char* name;
    int32_t id;
    unsigned char api;
    void* (*malloc)(size_t);
    void* (*calloc)(size_t, size_t);
    void* (*realloc)(void*, size_t);
    void (*free)(void*);
} dom;

static const dom DOM[3] = {
    {"RAW", PHN_DOMAIN_RAW, 'r', phn_raw_malloc, phn_raw_calloc, phn_raw_realloc, phn_raw_free},
    {"MEM", PHN_DOMAIN_MEM, 'm', phn_mem_malloc, phn_mem_calloc, phn_mem_realloc, phn_mem_free},
    {"OBJ", PHN_DOMAIN_OBJ, 'o', phn_obj_malloc, phn_obj_calloc, phn_obj_realloc, phn_obj_free},
};

/* a block's bytes, through an opaque pointer (no alloc_size reasoning by gcc) */
static unsigned char* B(const void* p) { return (unsigned char*)U(p); }

static uint64_t size_field(const void* p) {
    const unsigned char* h = B(p) - 2 * DBG_S;
    uint64_t v = 0;
    for (int i = 0; i < DBG_S; i++) v = (v << 8) | h[i];
    return v;
}

static int all_bytes(const void* p, size_t n, unsigned char v) {
    const unsigned char* b = (const unsigned char*)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v) return 0;
    return 1;
}

static void print_bytes(const char* what, const void* p, size_t n) {
    const unsigned char* b = (const unsigned char*)p;
    fprintf(stderr, "\n  %s:", what);
    for (size_t i = 0; i < n && i < 96; i++) fprintf(stderr, " %02x", b[i]);
    if (n > 96) fprintf(stderr, " ...");
    fprintf(stderr, "\n");
}

/* NULL if p carries a sound debug header and trailer for n bytes of API api. */
static const char* block_problem(const void* p, size_t n, unsigned char api) {
    static char why[200];
    const unsigned char* b = B(p);
    if (size_field(p) != n) {
        snprintf(why, sizeof why, "size field %llu, expected %zu", (unsigned long long)size_field(p), n);
        return why;
    }
    if (b[-DBG_S] != api) {
        snprintf(why, sizeof why, "API id 0x%02x, expected '%c'", b[-DBG_S], api);
        return why;
    }
    if (!all_bytes(b - (DBG_S - 1), DBG_S - 1, FORBIDDENBYTE)) return "leading pad bytes are not all 0xFD";
    if (!all_bytes(b + n, DBG_S, FORBIDDENBYTE)) return "trailing pad bytes are not all 0xFD";
    return NULL;
}

static int block_sound(const void* p, size_t n, unsigned char api) {
    const char* why = block_problem(p, n, api);
    if (why) {
        fprintf(stderr, "\n  block %p (%zu bytes, API '%c'): %s", p, n, api, why);
        print_bytes("bytes from p-16", B(p) - 16, n + DBG_OVERHEAD);
    }
    return why == NULL;
}

static char* hexp(const void* p, char buf[32]) {
    snprintf(buf, 32, "0x%lx", (unsigned long)U(p));
    return buf;
}

static int name_is(const char* want) {
    const char* n = phn_allocator_name();
    if (want == NULL) return n == NULL;
    return n != NULL && strcmp(n, want) == 0;
}

static void get3(phn_allocator out[3]) {
    for (int d = 0; d < 3; d++) {
        memset(&out[d], 0, sizeof out[d]);
        phn_get_allocator(d, &out[d]);
    }
}

static uint64_t live_blocks(void) { return stats_now().allocated_blocks; }

/* ------------------------------------------------------------------ fatal handler */

static int fatal_calls;
static char fatal_msg[1024];

static void PHN_CALL on_fatal(void* ctx, const char* message) {
    (void)ctx;
    __atomic_fetch_add(&fatal_calls, 1, __ATOMIC_RELAXED);
    snprintf(fatal_msg, sizeof fatal_msg, "%s", message ? message : "(null)");
}

/* Run stmt with stderr captured; fatal_calls / fatal_msg are reset first. */
#define BAD_CALL(err, stmt)                  \
    do {                                     \
        stderr_capture cap_;                 \
        fatal_calls = 0;                     \
        fatal_msg[0] = '\0';                 \
        int capped_ = stderr_capture_begin(&cap_) == 0; \
        stmt;                                \
        err = capped_ ? stderr_capture_end(&cap_) : strdup(""); \
    } while (0)

/* The handler was called once with exactly want; the dump went to stderr (a line starting
 * "Debug memory block at address p=<dump_p>"), and the default "Fatal error:" line did not. */
static int handled(const char* err, const char* want, const void* dump_p) {
    char hx[32], line[96];
    snprintf(line, sizeof line, "Debug memory block at address p=%s", hexp(dump_p, hx));
    int ok_ = fatal_calls == 1 && strcmp(fatal_msg, want) == 0 && err && strstr(err, line) &&
              strstr(err, "Fatal error") == NULL;
    if (!ok_) {
        fprintf(stderr, "\n  fatal handler: %d call(s), message \"%s\"\n  expected one call with \"%s\"\n", fatal_calls,
                fatal_msg, want);
        echo_prefixed("captured stderr", err ? err : "(none)");
    }
    return ok_;
}

/* ================================================================== --suite (env hooks) */

static int g_pymalloc;  /* MEM and OBJ are served by pymalloc under the hooks */
static const char* g_env;

static void suite_name(void) {
    const char* want = strcmp(g_env, "malloc_debug") == 0 ? "malloc_debug" : "pymalloc_debug";
    char name[160];
    snprintf(name, sizeof name, "PYHEAPNATIVE_ALLOCATOR=%s: phn_allocator_name() == \"%s\"", g_env, want);
    CHECK_BODY(name) {
        const char* n = phn_allocator_name();
        result = name_is(want);
        if (!result) fprintf(stderr, "\n  got %s\n", n ? n : "(null)");
    }
}

/* item 30 */
static void suite_layout(void) {
    CHECK_BODY("item 30: phn_mem_malloc(5), bytes from p-16: 00x7 05 | 6d | fdx7 | cdx5 | fdx8") {
        static const unsigned char want[29] = {0, 0, 0, 0, 0, 0, 0, 5, 0x6d, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd,
                                               0xcd, 0xcd, 0xcd, 0xcd, 0xcd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd};
        void* p = phn_mem_malloc(5);
        result = p && memcmp(B(p) - 16, want, sizeof want) == 0;
        if (!result && p) print_bytes("got", B(p) - 16, sizeof want);
        phn_mem_free(p);
    }
    CHECK_BODY("item 30: phn_raw_malloc(0): size field 0, id 0x72, then 7 + 8 bytes 0xFD") {
        static const unsigned char want[24] = {0, 0, 0, 0, 0, 0, 0, 0, 0x72, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd,
                                               0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd};
        void* p = phn_raw_malloc(0);
        result = p && memcmp(B(p) - 16, want, sizeof want) == 0;
        if (!result && p) print_bytes("got", B(p) - 16, sizeof want);
        phn_raw_free(p);
    }
    CHECK_BODY("item 30: phn_obj_malloc(5) has id 'o' (0x6f), phn_raw_malloc(5) id 'r' (0x72), phn_mem_calloc id 'm'") {
        void* o = phn_obj_malloc(5);
        void* r = phn_raw_malloc(5);
        void* m = phn_mem_calloc(1, 5);
        result = o && r && m && B(o)[-8] == 0x6f && B(r)[-8] == 0x72 && B(m)[-8] == 0x6d && block_sound(o, 5, 'o') &&
                 block_sound(r, 5, 'r') && block_sound(m, 5, 'm');
        phn_obj_free(o);
        phn_raw_free(r);
        phn_mem_free(m);
    }
    for (int d = 1; d <= 2 && g_pymalloc; d++) {
        char name[240];
        snprintf(name, sizeof name, "item 30/33: %s malloc(1000) / calloc(1000, 1): two nested debug blocks (pymalloc passes it to RAW): "
                 "from p-32: 1024 'r' pad | 1000 '%c' pad | data | 8 x 0xFD | 8 x 0xFD; realloc to 3000 and 700 rewrites both", DOM[d].name, DOM[d].api);
        CHECK_BODY(name) {
            result = true;
            for (int zero = 0; zero <= 1; zero++) {
                unsigned char* p = B(zero ? DOM[d].calloc(1000, 1) : DOM[d].malloc(1000));
                result = result && p && block_sound(p - 16, 1024, 'r') && block_sound(p, 1000, DOM[d].api) &&
                         (zero ? all_zero(p, 1000) : all_bytes(p, 1000, CLEANBYTE));
                if (p) fill_pattern(p, 1000, 5);
                unsigned char* q = p ? B(DOM[d].realloc(p, 3000)) : NULL;
                result = result && q && block_sound(q - 16, 3024, 'r') && block_sound(q, 3000, DOM[d].api) &&
                         check_pattern(q, 1000, 5) && all_bytes(q + 1000, 2000, CLEANBYTE);
                unsigned char* r = q ? B(DOM[d].realloc(q, 700)) : NULL;
                result = result && r && block_sound(r - 16, 724, 'r') && block_sound(r, 700, DOM[d].api) && check_pattern(r, 700, 5);
                DOM[d].free(r ? r : q ? q : p);
            }
        }
    }
    /* every branch of the hooks' inline fill (phn_fast_debug.h) and of the thresholds */
    static const size_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129,
                                   191, 192, 193, 487, 488, 489, 512, 513, 1000, 4096, 100000};
    for (int d = 0; d < 3; d++) {
        char name[200];
        snprintf(name, sizeof name, "item 30/31: %s malloc of 32 sizes 0..100000: 16-byte aligned, header, 0xCD data, trailer", DOM[d].name);
        CHECK_BODY(name) {
            result = true;
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                size_t n = sizes[i];
                void* p = DOM[d].malloc(n);
                if (!p || (U(p) & 15) || !block_sound(p, n, DOM[d].api) || !all_bytes(p, n, CLEANBYTE)) {
                    fprintf(stderr, "\n  size %zu: %p\n", n, p);
                    result = false;
                }
                DOM[d].free(p);
            }
        }
        snprintf(name, sizeof name, "item 31: %s calloc data is zero (calloc(n, 1), calloc(3, 7), calloc(0, 5)); header and trailer", DOM[d].name);
        CHECK_BODY(name) {
            result = true;
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                size_t n = sizes[i];
                void* p = DOM[d].calloc(n, 1);
                if (!p || (U(p) & 15) || !block_sound(p, n, DOM[d].api) || !all_zero(p, n)) {
                    fprintf(stderr, "\n  calloc(%zu, 1): %p\n", n, p);
                    result = false;
                }
                DOM[d].free(p);
            }
            void* a = DOM[d].calloc(3, 7);
            void* b = DOM[d].calloc(0, 5);
            result = result && a && b && block_sound(a, 21, DOM[d].api) && all_zero(a, 21) && block_sound(b, 0, DOM[d].api);
            DOM[d].free(a);
            DOM[d].free(b);
        }
        if (!g_pymalloc || d == 0) continue;
        /* A freed pymalloc block stays mapped: after the free, everything but the word where
         * pymalloc keeps its free list (the block's first 8 bytes) reads 0xDD, and the bytes
         * after the debug block are untouched. */
        snprintf(name, sizeof name, "item 32: %s free of a pymalloc block (sizes 0..488) fills size field, id, pads, data and trailer with 0xDD", DOM[d].name);
        CHECK_BODY(name) {
            result = true;
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && sizes[i] <= 488; i++) {
                size_t n = sizes[i];
                /* a block of the same class stays live: the pool does not empty, its arena
                 * cannot go back to the system while the freed block is read */
                void* keeper = DOM[d].malloc(n);
                unsigned char* p = B(DOM[d].malloc(n));
                size_t room = ((n + DBG_OVERHEAD + 15) & ~(size_t)15) - (n + DBG_OVERHEAD);   /* the class's spare bytes */
                if (!p || !keeper) { result = false; DOM[d].free(keeper); continue; }
                fill_pattern(p, n, 3);
                memset(p + n + DBG_S, 0x5A, room);
                DOM[d].free(p);
                if (!all_bytes(p - 16 + 8, n + DBG_OVERHEAD - 8, DEADBYTE) || !all_bytes(p + n + DBG_S, room, 0x5A)) {
                    fprintf(stderr, "\n  %s(%zu):", DOM[d].name, n);
                    print_bytes(" after free", p - 16, n + DBG_OVERHEAD + room);
                    result = false;
                }
                DOM[d].free(keeper);
            }
        }
    }
}

/* item 31: realloc */
static void suite_realloc(void) {
    for (int d = 0; d < 3; d++) {
        const dom* D = &DOM[d];
        char name[200];
        snprintf(name, sizeof name, "item 31: %s realloc 5 -> 12: 5 old bytes, 7 x 0xCD, 8 x 0xFD; 12 -> 2: size 2, trailer right after byte 2", D->name);
        CHECK_BODY(name) {
            unsigned char want12[36], want2[26];
            memset(want12, 0, 8);
            want12[7] = 12;
            want12[8] = D->api;
            memset(want12 + 9, FORBIDDENBYTE, 7);
            memcpy(want12 + 16, "abcde", 5);
            memset(want12 + 21, CLEANBYTE, 7);
            memset(want12 + 28, FORBIDDENBYTE, 8);
            memset(want2, 0, 8);
            want2[7] = 2;
            want2[8] = D->api;
            memset(want2 + 9, FORBIDDENBYTE, 7);
            memcpy(want2 + 16, "ab", 2);
            memset(want2 + 18, FORBIDDENBYTE, 8);
            void* p = D->malloc(5);
            result = p != NULL;
            if (p) memcpy(p, "abcde", 5);
            void* q = p ? D->realloc(p, 12) : NULL;
            result = result && q && memcmp(B(q) - 16, want12, sizeof want12) == 0;
            if (q && !result) print_bytes("after 5 -> 12", B(q) - 16, sizeof want12);
            void* r = q ? D->realloc(q, 2) : NULL;
            result = result && r && memcmp(B(r) - 16, want2, sizeof want2) == 0;
            if (r && !result) print_bytes("after 12 -> 2", B(r) - 16, sizeof want2);
            D->free(r ? r : q ? q : p);
        }
        snprintf(name, sizeof name, "item 31: %s realloc keeps contents 100 -> 2000 -> 3 (pymalloc -> RAW); the grown tail is 0xCD", D->name);
        CHECK_BODY(name) {
            unsigned char* p = B(D->malloc(100));
            result = p != NULL;
            if (p) fill_pattern(p, 100, 31);
            unsigned char* q = p ? B(D->realloc(p, 2000)) : NULL;
            result = result && q && block_sound(q, 2000, D->api) && check_pattern(q, 100, 31) && all_bytes(q + 100, 1900, CLEANBYTE);
            unsigned char* r = q ? B(D->realloc(q, 3)) : NULL;
            result = result && r && block_sound(r, 3, D->api) && check_pattern(r, 3, 31);
            D->free(r ? r : q ? q : p);
        }
        snprintf(name, sizeof name, "item 31: %s realloc of blocks over 128 bytes (64 + 64 bytes saved): 300 -> 600 -> 290 -> 200 -> 5000 -> 1000", D->name);
        CHECK_BODY(name) {
            static const size_t steps[] = {600, 290, 200, 5000, 1000};
            unsigned char* p = B(D->malloc(300));
            size_t n = 300;
            result = p != NULL;
            if (p) fill_pattern(p, n, 77);
            for (size_t i = 0; result && i < sizeof steps / sizeof steps[0]; i++) {
                size_t m = steps[i];
                unsigned char* q = B(D->realloc(p, m));
                if (!q) { result = false; break; }
                size_t keep = n < m ? n : m;
                if (!block_sound(q, m, D->api) || !check_pattern(q, keep, 77) || (m > n && !all_bytes(q + n, m - n, CLEANBYTE))) {
                    fprintf(stderr, "\n  %zu -> %zu\n", n, m);
                    result = false;
                }
                p = q;
                n = m;
                fill_pattern(p, n, 77);
            }
            D->free(p);
        }
        snprintf(name, sizeof name, "item 31: %s realloc(NULL, 7) is malloc(7); realloc(p, 0) leaves a 0-byte block with its trailer", D->name);
        CHECK_BODY(name) {
            void* p = D->realloc(NULL, 7);
            result = p && block_sound(p, 7, D->api) && all_bytes(p, 7, CLEANBYTE);
            void* q = p ? D->realloc(p, 0) : NULL;
            result = result && q && block_sound(q, 0, D->api);
            D->free(q ? q : p);
        }
    }
}

/* item 33 (§2.8), through the statistics */
static void suite_threshold(void) {
    for (int d = 1; d <= 2; d++) {
        const dom* D = &DOM[d];
        char name[220];
        if (g_pymalloc)
            snprintf(name, sizeof name, "item 33: %s malloc(488) is a pymalloc block (512-byte class), malloc(489) goes to RAW (raw_allocated_blocks + 1)", D->name);
        else
            snprintf(name, sizeof name, "item 33: %s malloc(488) and malloc(489) use no pymalloc block under malloc_debug", D->name);
        CHECK_BODY(name) {
            phn_stats s0 = stats_now();
            void* a = D->malloc(488);
            phn_stats s1 = stats_now();
            void* b = D->malloc(489);
            phn_stats s2 = stats_now();
            long long py1 = (long long)(stats_blocks_in_use(&s1) - stats_blocks_in_use(&s0));
            long long c31 = (long long)(s1.size_classes[31].blocks_in_use - s0.size_classes[31].blocks_in_use);
            long long raw1 = (long long)(s1.raw_allocated_blocks - s0.raw_allocated_blocks);
            long long py2 = (long long)(stats_blocks_in_use(&s2) - stats_blocks_in_use(&s1));
            long long raw2 = (long long)(s2.raw_allocated_blocks - s1.raw_allocated_blocks);
            if (g_pymalloc)
                result = a && b && py1 == 1 && c31 == 1 && raw1 == 0 && py2 == 0 && raw2 == 1;
            else
                result = a && b && py1 == 0 && py2 == 0;
            if (!result)
                fprintf(stderr, "\n  488: pymalloc %+lld (class 31 %+lld), raw %+lld; 489: pymalloc %+lld, raw %+lld\n", py1, c31, raw1, py2, raw2);
            result = result && stats_consistent(&s2);
            D->free(a);
            D->free(b);
        }
        if (!g_pymalloc) continue;
        snprintf(name, sizeof name, "§2.8: %s malloc(0), (1), (8) use 32-byte blocks (class 0 stays empty), malloc(9) a 48-byte one", D->name);
        CHECK_BODY(name) {
            phn_stats s0 = stats_now();
            void* a = D->malloc(0);
            void* b = D->malloc(1);
            void* c = D->malloc(8);
            phn_stats s1 = stats_now();
            void* e = D->malloc(9);
            phn_stats s2 = stats_now();
            result = a && b && c && e && s1.size_classes[0].blocks_in_use == s0.size_classes[0].blocks_in_use &&
                     s1.size_classes[1].blocks_in_use == s0.size_classes[1].blocks_in_use + 3 &&
                     s2.size_classes[2].blocks_in_use == s1.size_classes[2].blocks_in_use + 1 &&
                     s2.raw_allocated_blocks == s0.raw_allocated_blocks;
            D->free(a);
            D->free(b);
            D->free(c);
            D->free(e);
        }
    }
}

/* item 37 */
static void suite_idempotent(void) {
    CHECK_BODY("item 37: phn_setup_debug_hooks() again returns 0 and changes no domain's allocator; the name stays") {
        phn_allocator before[3], after[3];
        const char* n0 = phn_allocator_name();
        get3(before);
        int rc = phn_setup_debug_hooks();
        get3(after);
        const char* n1 = phn_allocator_name();
        result = rc == 0 && memcmp(before, after, sizeof before) == 0 && n0 && n1 && strcmp(n0, n1) == 0;
        for (int d = 0; d < 3 && !result; d++)
            fprintf(stderr, "\n  %s changed: %d\n", DOM[d].name, memcmp(&before[d], &after[d], sizeof before[d]) != 0);
    }
    CHECK_BODY("item 37: after the second setup a block has one header (size field N, id, 7 + 8 pads)") {
        result = true;
        for (int d = 0; d < 3; d++) {
            void* p = DOM[d].malloc(40);
            if (!p || !block_sound(p, 40, DOM[d].api) || !all_bytes(p, 40, CLEANBYTE)) result = false;
            DOM[d].free(p);
        }
    }
}

/* §3.4 step 1: sizes the public wrappers accept but the hooks cannot extend */
static void suite_huge(void) {
    for (int d = 0; d < 3; d++) {
        char name[200];
        snprintf(name, sizeof name, "%s: malloc / calloc / realloc of PTRDIFF_MAX - 8 under the hooks: NULL, ENOMEM, the block intact", DOM[d].name);
        CHECK_BODY(name) {
            void* p = DOM[d].malloc(32);
            if (p) fill_pattern(p, 32, 5);
            errno = 0;
            void* a = DOM[d].malloc(near_max);
            int ea = errno;
            errno = 0;
            void* b = DOM[d].calloc(1, near_max);
            int eb = errno;
            errno = 0;
            void* c = p ? DOM[d].realloc(p, near_max) : NULL;
            int ec = errno;
            result = p && !a && !b && !c && ea == ENOMEM && eb == ENOMEM && ec == ENOMEM && block_sound(p, 32, DOM[d].api) &&
                     check_pattern(p, 32, 5);
            if (!result) fprintf(stderr, "\n  %p %d / %p %d / %p %d\n", a, ea, b, eb, c, ec);
            DOM[d].free(p);
        }
    }
    CHECK_BODY("free(NULL) under the hooks: no fatal error, errno unchanged; free leaves errno unchanged") {
        int f0 = fatal_calls;
        result = true;
        for (int d = 0; d < 3; d++) {
            errno = 4321;
            DOM[d].free(NULL);
            if (errno != 4321) result = false;
            void* p = DOM[d].malloc(100);
            errno = 4321;
            DOM[d].free(p);
            if (errno != 4321) result = false;
        }
        result = result && fatal_calls == f0;
    }
}

/* A fatal handler that returns: the bad call does nothing (free) or returns NULL (realloc). */
static void suite_handler(void) {
    static const size_t hsizes[] = {16, 1000};
    char name[260], want[256], hx[32], hy[32];
    uint64_t blocks_start = live_blocks();
    for (int d = 0; d < 3; d++) {
        const dom* D = &DOM[d];
        for (int si = 0; si < 2; si++) {
            size_t n = hsizes[si];

            snprintf(name, sizeof name, "handler: %s %zu-byte block, p[%zu] = 'x': free and realloc report \"bad trailing pad byte\", do nothing; fixed, they work", D->name, n, n);
            CHECK_BODY(name) {
                uint64_t b0 = live_blocks();
                unsigned char* p = B(D->malloc(n));
                uint64_t b1 = live_blocks();
                char* err = NULL;
                result = p != NULL;
                if (!p) continue;  /* ends the check, counted as failed */
                fill_pattern(p, n, 3);
                p[n] = 'x';
                BAD_CALL(err, D->free(p));
                result = handled(err, "_PyMem_DebugRawFree: bad trailing pad byte", p) && strstr(err, "at tail+0: 0x78 *** OUCH") != NULL;
                free(err);
                result = result && check_pattern(p, n, 3) && p[n] == 'x' && size_field(p) == n && p[-8] == D->api &&
                         live_blocks() == b1 && phn_validate() == 0;
                void* r = NULL;
                BAD_CALL(err, r = D->realloc(p, 2 * n + 1));
                result = result && r == NULL && handled(err, "_PyMem_DebugRawRealloc: bad trailing pad byte", p);
                free(err);
                result = result && check_pattern(p, n, 3) && p[n] == 'x' && size_field(p) == n && live_blocks() == b1 && phn_validate() == 0;
                p[n] = FORBIDDENBYTE;
                fatal_calls = 0;
                unsigned char* q = B(D->realloc(p, 2 * n + 1));
                result = result && q && fatal_calls == 0 && block_sound(q, 2 * n + 1, D->api) && check_pattern(q, n, 3);
                D->free(q ? q : p);
                result = result && fatal_calls == 0 && live_blocks() == b0;
            }

            snprintf(name, sizeof name, "handler: %s %zu-byte block, p[-1] = 'x': \"bad leading pad byte\" (free, realloc), block left alone", D->name, n);
            CHECK_BODY(name) {
                unsigned char* p = B(D->malloc(n));
                char* err = NULL;
                result = p != NULL;
                if (!p) continue;  /* ends the check, counted as failed */
                fill_pattern(p, n, 4);
                p[-1] = 'x';
                BAD_CALL(err, D->free(p));
                result = handled(err, "_PyMem_DebugRawFree: bad leading pad byte", p) && strstr(err, "at p-1: 0x78 *** OUCH") &&
                         strstr(err, "Because memory is corrupted at the start");
                free(err);
                void* r = NULL;
                BAD_CALL(err, r = D->realloc(p, 8));
                result = result && r == NULL && handled(err, "_PyMem_DebugRawRealloc: bad leading pad byte", p);
                free(err);
                result = result && check_pattern(p, n, 4) && p[-1] == 'x' && size_field(p) == n && phn_validate() == 0;
                p[-1] = FORBIDDENBYTE;
                fatal_calls = 0;
                D->free(p);
                result = result && fatal_calls == 0;
            }

            for (int e = 0; e < 3; e++) {
                if (e == d) continue;
                const dom* E = &DOM[e];
                snprintf(name, sizeof name, "handler: %s %zu-byte block freed / reallocated with %s: \"bad ID: Allocated using API '%c', verified using API '%c'\", left alone",
                         D->name, n, E->name, D->api, E->api);
                CHECK_BODY(name) {
                    uint64_t b0 = live_blocks();
                    unsigned char* p = B(D->malloc(n));
                    uint64_t b1 = live_blocks();
                    char* err = NULL;
                    result = p != NULL;
                    if (!p) continue;  /* ends the check, counted as failed */
                    fill_pattern(p, n, 5);
                    snprintf(want, sizeof want, "_PyMem_DebugRawFree: bad ID: Allocated using API '%c', verified using API '%c'", D->api, E->api);
                    BAD_CALL(err, E->free(p));
                    result = handled(err, want, p);
                    free(err);
                    snprintf(want, sizeof want, "_PyMem_DebugRawRealloc: bad ID: Allocated using API '%c', verified using API '%c'", D->api, E->api);
                    void* r = NULL;
                    BAD_CALL(err, r = E->realloc(p, 3 * n));
                    result = result && r == NULL && handled(err, want, p);
                    free(err);
                    result = result && block_sound(p, n, D->api) && check_pattern(p, n, 5) && live_blocks() == b1 && phn_validate() == 0;
                    fatal_calls = 0;
                    D->free(p);
                    result = result && fatal_calls == 0 && live_blocks() == b0;
                }
            }

            snprintf(name, sizeof name, "handler: %s %zu-byte block freed twice: \"block already freed (double free or use after free) at p=...\"; realloc of it NULL; nothing changes", D->name, n);
            CHECK_BODY(name) {
                void* keep = D->malloc(n);  /* keeps the pool or the size class in use */
                uint64_t b0 = live_blocks();
                unsigned char* p = B(D->malloc(n));
                char* err = NULL;
                result = p != NULL && keep != NULL;
                if (!p) continue;  /* ends the check, counted as failed */
                D->free(p);
                result = result && live_blocks() == b0;
                snprintf(want, sizeof want, "_PyMem_DebugRawFree: block already freed (double free or use after free) at p=%s", hexp(p, hx));
                BAD_CALL(err, D->free(p));
                result = result && handled(err, want, p);
                free(err);
                snprintf(want, sizeof want, "_PyMem_DebugRawRealloc: block already freed (double free or use after free) at p=%s", hexp(p, hx));
                void* r = NULL;
                BAD_CALL(err, r = D->realloc(p, 10));
                result = result && r == NULL && handled(err, want, p);
                free(err);
                result = result && live_blocks() == b0 && phn_validate() == 0;
                /* the heap still works: the next blocks are sound and distinct */
                fatal_calls = 0;
                void* x = D->malloc(n);
                void* y = D->malloc(n);
                result = result && x && y && U(x) != U(y) && block_sound(x, n, D->api) && block_sound(y, n, D->api) && fatal_calls == 0;
                D->free(x);
                D->free(y);
                D->free(keep);
                result = result && fatal_calls == 0;
            }

            snprintf(name, sizeof name, "handler: %s, 8 blocks of %zu bytes, free / realloc of p+8, p+16, p+%zu, p+%zu: \"interior pointer p=...: N bytes into the block at p=...\" naming the block the caller got", D->name, n, n / 2, n - 1);
            CHECK_BODY(name) {
                enum { NB = 8 };
                unsigned char* blk[NB];
                uint64_t b0 = live_blocks();
                int wrong = 0;
                result = true;
                for (int j = 0; j < NB; j++) {
                    blk[j] = B(D->malloc(n));
                    if (!blk[j]) result = false;
                    else fill_pattern(blk[j], n, 6u + (unsigned)j);
                }
                size_t offs[] = {8, 16, n / 2, n - 1};
                for (int j = 0; result && j < NB; j++) {
                    unsigned char* p = blk[j];
                    for (int k = 0; k < 4; k++) {
                        unsigned char* q = p + offs[k];
                        char* err = NULL;
                        snprintf(want, sizeof want, "_PyMem_DebugRawFree: interior pointer p=%s: %zu bytes into the block at p=%s", hexp(q, hx), offs[k], hexp(p, hy));
                        BAD_CALL(err, D->free(q));
                        int good = fatal_calls == 1 && strcmp(fatal_msg, want) == 0;
                        if (!good && wrong++ == 0) handled(err, want, q);  /* describes the first mismatch */
                        free(err);
                        snprintf(want, sizeof want, "_PyMem_DebugRawRealloc: interior pointer p=%s: %zu bytes into the block at p=%s", hexp(q, hx), offs[k], hexp(p, hy));
                        void* r = NULL;
                        BAD_CALL(err, r = D->realloc(q, 3));
                        good = r == NULL && fatal_calls == 1 && strcmp(fatal_msg, want) == 0;
                        if (!good && wrong++ == 0) handled(err, want, q);
                        free(err);
                    }
                }
                if (wrong) fprintf(stderr, "\n  %d of %d bad calls misdiagnosed\n", wrong, NB * 8);
                result = result && wrong == 0;
                fatal_calls = 0;
                for (int j = 0; j < NB; j++) {
                    if (!blk[j]) continue;
                    if (!block_sound(blk[j], n, D->api) || !check_pattern(blk[j], n, 6u + (unsigned)j)) result = false;
                    D->free(blk[j]);
                }
                result = result && fatal_calls == 0 && live_blocks() == b0 && phn_validate() == 0;
            }
        }

        snprintf(name, sizeof name, "handler: %s free / realloc of 0x12345678, a stack address, a libc malloc block, 0x8: \"foreign pointer p=...: not allocated by this allocator\"", D->name);
        CHECK_BODY(name) {
            int local[8] = {0};
            void* libc_block = malloc(100);
            void* bad[4] = {(void*)(uintptr_t)0x12345678, (void*)U(&local[4]), libc_block, (void*)(uintptr_t)8};
            uint64_t b0 = live_blocks();
            result = libc_block != NULL;
            for (int k = 0; k < 4; k++) {
                char* err = NULL;
                snprintf(want, sizeof want, "_PyMem_DebugRawFree: foreign pointer p=%s: not allocated by this allocator", hexp(bad[k], hx));
                BAD_CALL(err, D->free(bad[k]));
                if (!handled(err, want, bad[k])) result = false;
                free(err);
                snprintf(want, sizeof want, "_PyMem_DebugRawRealloc: foreign pointer p=%s: not allocated by this allocator", hexp(bad[k], hx));
                void* r = NULL;
                BAD_CALL(err, r = D->realloc(bad[k], 10));
                if (r != NULL || !handled(err, want, bad[k])) result = false;
                free(err);
            }
            free(libc_block);  /* still libc's: the bad frees did not touch it */
            result = result && live_blocks() == b0 && phn_validate() == 0;
        }
    }
    CHECK_BODY("handler: after every bad call, allocated_blocks is back to its start value and phn_validate() == 0") {
        result = live_blocks() == blocks_start && phn_validate() == 0;
    }
}

/* random traffic in every domain with content and header checks */
typedef struct slot { unsigned char* p; size_t n; int d; unsigned seed; } slot;

static unsigned xorshift(unsigned* s) {
    unsigned x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static size_t random_size(unsigned* rng) {
    unsigned r = xorshift(rng);
    if (r % 8 == 0) return xorshift(rng) % 6000;
    if (r % 8 == 1) return 480 + xorshift(rng) % 20;  /* around the 488 / 489 boundary */
    return xorshift(rng) % 300;
}

static int slot_ok(const slot* s) {
    if (!block_sound(s->p, s->n, DOM[s->d].api)) return 0;
    if (!check_pattern(s->p, s->n, s->seed)) {
        fprintf(stderr, "\n  contents of %p (%zu bytes) changed\n", (void*)s->p, s->n);
        return 0;
    }
    return 1;
}

static int random_traffic(unsigned seed, int ops, const int* domains, int ndomains, slot* slots, int nslots) {
    unsigned rng = seed;
    int bad = 0;
    for (int i = 0; i < ops && bad < 5; i++) {
        slot* s = &slots[xorshift(&rng) % (unsigned)nslots];
        unsigned r = xorshift(&rng) % 10;
        if (!s->p) {
            s->d = domains[xorshift(&rng) % (unsigned)ndomains];
            s->n = random_size(&rng);
            s->seed = xorshift(&rng);
            int zero = r < 3;
            s->p = B(zero ? DOM[s->d].calloc(s->n, 1) : DOM[s->d].malloc(s->n));
            if (!s->p) { bad++; continue; }
            if ((U(s->p) & 15) || !block_sound(s->p, s->n, DOM[s->d].api) ||
                !(zero ? all_zero(s->p, s->n) : all_bytes(s->p, s->n, CLEANBYTE))) {
                fprintf(stderr, "\n  new block %p of %zu bytes (%s)\n", (void*)s->p, s->n, zero ? "calloc" : "malloc");
                bad++;
            }
            fill_pattern(s->p, s->n, s->seed);
        } else if (r < 4) {
            if (!slot_ok(s)) bad++;
            size_t m = random_size(&rng);
            unsigned char* q = B(DOM[s->d].realloc(s->p, m));
            if (!q) { bad++; continue; }
            size_t keep = s->n < m ? s->n : m;
            if (!block_sound(q, m, DOM[s->d].api) || !check_pattern(q, keep, s->seed) ||
                (m > s->n && !all_bytes(q + s->n, m - s->n, CLEANBYTE))) {
                fprintf(stderr, "\n  realloc %zu -> %zu\n", s->n, m);
                bad++;
            }
            s->p = q;
            s->n = m;
            fill_pattern(s->p, s->n, s->seed);
        } else {
            if (!slot_ok(s)) bad++;
            DOM[s->d].free(s->p);
            s->p = NULL;
        }
    }
    return bad;
}

static int free_slots(slot* slots, int nslots) {
    int bad = 0;
    for (int i = 0; i < nslots; i++)
        if (slots[i].p) {
            if (!slot_ok(&slots[i])) bad++;
            DOM[slots[i].d].free(slots[i].p);
            slots[i].p = NULL;
        }
    return bad;
}

static void suite_random(void) {
    CHECK_BODY("4000 random malloc / calloc / realloc / free in RAW, MEM and OBJ under the hooks: contents, headers; blocks and validate restored") {
        static slot slots[300];
        static const int all3[] = {0, 1, 2};
        memset(slots, 0, sizeof slots);
        uint64_t b0 = live_blocks();
        int f0 = fatal_calls;
        int bad = random_traffic(12345u, 4000, all3, 3, slots, 300);
        bad += free_slots(slots, 300);
        phn_stats s = stats_now();
        result = bad == 0 && fatal_calls == f0 && s.allocated_blocks == b0 && stats_consistent(&s) && phn_validate() == 0;
        if (!result) fprintf(stderr, "\n  %d bad, %d fatal, blocks %llu -> %llu\n", bad, fatal_calls - f0, (unsigned long long)b0, (unsigned long long)s.allocated_blocks);
    }
}

typedef struct thread_arg { unsigned seed; int bad; slot slots[64]; } thread_arg;

static void* thread_main(void* arg) {
    thread_arg* t = (thread_arg*)arg;
    static const int memobj[] = {1, 2};
    t->bad = random_traffic(t->seed, 3000, memobj, 2, t->slots, 64);
    return NULL;
}

static void suite_threads(void) {
    CHECK_BODY("two threads of MEM / OBJ traffic under the hooks (no GIL check), blocks freed by the other thread") {
        static thread_arg ta[2];
        memset(ta, 0, sizeof ta);
        ta[0].seed = 777u;
        ta[1].seed = 4242u;
        uint64_t b0 = live_blocks();
        int f0 = fatal_calls;
        pthread_t th[2];
        result = pthread_create(&th[0], NULL, thread_main, &ta[0]) == 0 && pthread_create(&th[1], NULL, thread_main, &ta[1]) == 0;
        if (result) {
            pthread_join(th[0], NULL);
            pthread_join(th[1], NULL);
        }
        /* each thread's leftovers are checked and freed here, on the main thread */
        int bad = ta[0].bad + ta[1].bad + free_slots(ta[0].slots, 64) + free_slots(ta[1].slots, 64);
        result = result && bad == 0 && fatal_calls == f0 && live_blocks() == b0 && phn_validate() == 0;
    }
}

static int suite_child(const char* mode) {
    g_env = getenv("PYHEAPNATIVE_ALLOCATOR");
    if (!g_env) g_env = "(unset)";
    g_pymalloc = strcmp(g_env, "malloc_debug") != 0;
    (void)mode;
    phn_set_fatal_handler(on_fatal, NULL);
    CHECK("phn_init() == 0", phn_init() == 0);
    suite_name();
    int f0 = fatal_calls;
    suite_layout();
    suite_realloc();
    suite_threshold();
    suite_idempotent();
    suite_huge();
    CHECK_BODY("no fatal error was reported by the layout, realloc, threshold and size checks") {
        result = fatal_calls == f0;
        if (!result) fprintf(stderr, "\n  %d call(s), last: %s\n", fatal_calls - f0, fatal_msg);
    }
    suite_handler();
    fatal_calls = 0;
    suite_random();
    suite_threads();
    CHECK_BODY("phn_allocator_name() unchanged at the end; phn_validate() == 0") {
        const char* want = strcmp(g_env, "malloc_debug") == 0 ? "malloc_debug" : "pymalloc_debug";
        result = name_is(want) && phn_validate() == 0;
    }
    phn_set_fatal_handler(NULL, NULL);
    return print_test_summary();
}

/* ================================================================== recording allocator */

#define REC_LIVE 8192
#define REC_SNAP 16384

typedef struct rec_alloc {
    phn_allocator prev;
    int32_t domain;
    long mallocs, callocs, reallocs, frees, unknown;
    size_t last_size;           /* bytes asked for by the last malloc / calloc (nelem*elsize) / realloc */
    size_t last_nelem, last_elsize;
    void* last_result;
    int fail_next_realloc;
    int nlive;
    struct { void* p; size_t n; } live[REC_LIVE];
    void* freed_ptr;            /* the last block freed, as it was when free was called */
    size_t freed_len;
    unsigned char freed[REC_SNAP];
    void* realloc_ptr;          /* the old block of the last realloc, as it was when realloc was called */
    size_t realloc_len;
    unsigned char realloc_old[REC_SNAP];
} rec_alloc;

static int rec_find(rec_alloc* r, void* p) {
    for (int i = 0; i < r->nlive; i++)
        if (r->live[i].p == p) return i;
    return -1;
}
static void rec_add(rec_alloc* r, void* p, size_t n) {
    if (p && r->nlive < REC_LIVE) {
        r->live[r->nlive].p = p;
        r->live[r->nlive].n = n;
        r->nlive++;
    }
}
static void rec_del(rec_alloc* r, int i) { r->live[i] = r->live[--r->nlive]; }

static void* PHN_CALL rec_malloc(void* ctx, size_t n) {
    rec_alloc* r = (rec_alloc*)ctx;
    r->mallocs++;
    r->last_size = n;
    void* p = r->prev.malloc(r->prev.ctx, n);
    r->last_result = p;
    rec_add(r, p, n);
    return p;
}
static void* PHN_CALL rec_calloc(void* ctx, size_t a, size_t b) {
    rec_alloc* r = (rec_alloc*)ctx;
    r->callocs++;
    r->last_nelem = a;
    r->last_elsize = b;
    r->last_size = a * b;
    void* p = r->prev.calloc(r->prev.ctx, a, b);
    r->last_result = p;
    rec_add(r, p, a * b);
    return p;
}
static void* PHN_CALL rec_realloc(void* ctx, void* p, size_t n) {
    rec_alloc* r = (rec_alloc*)ctx;
    r->reallocs++;
    r->last_size = n;
    r->realloc_ptr = p;
    r->realloc_len = 0;
    int i = p ? rec_find(r, p) : -1;
    if (i >= 0) {
        r->realloc_len = r->live[i].n < REC_SNAP ? r->live[i].n : REC_SNAP;
        memcpy(r->realloc_old, p, r->realloc_len);
    }
    if (r->fail_next_realloc) {
        r->fail_next_realloc = 0;
        r->last_result = NULL;
        return NULL;
    }
    void* q = r->prev.realloc(r->prev.ctx, p, n);
    r->last_result = q;
    if (q) {
        if (i >= 0) rec_del(r, i);
        rec_add(r, q, n);
    }
    return q;
}
static void PHN_CALL rec_free(void* ctx, void* p) {
    rec_alloc* r = (rec_alloc*)ctx;
    if (p) {
        r->frees++;
        int i = rec_find(r, p);
        r->freed_ptr = p;
        r->freed_len = 0;
        if (i >= 0) {
            r->freed_len = r->live[i].n < REC_SNAP ? r->live[i].n : REC_SNAP;
            memcpy(r->freed, p, r->freed_len);
            rec_del(r, i);
        } else {
            r->unknown++;
        }
    }
    r->prev.free(r->prev.ctx, p);
}

static int rec_install(rec_alloc* r, int32_t domain) {
    memset(r, 0, sizeof *r);
    r->domain = domain;
    if (phn_get_allocator(domain, &r->prev) != PHN_OK) return -1;
    phn_allocator a = {r, rec_malloc, rec_calloc, rec_realloc, rec_free};
    return phn_set_allocator(domain, &a) == PHN_OK ? 0 : -1;
}

/* ================================================================== --custom */

static rec_alloc REC[3];
static rec_alloc REC2;

static void custom_overhead(int pym) {
    static const size_t sizes[] = {0, 1, 5, 16, 100, 488, 489, 1000, 5000};
    for (int d = 0; d < 3; d++) {
        const dom* D = &DOM[d];
        rec_alloc* R = &REC[d];
        char name[220];
        snprintf(name, sizeof name, "item 33: %s malloc(N) asks the wrapped allocator for N + 24 bytes and returns its block + 16 (9 sizes)", D->name);
        CHECK_BODY(name) {
            result = true;
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                long m0 = R->mallocs;
                void* p = D->malloc(sizes[i]);
                if (!p || R->mallocs != m0 + 1 || R->last_size != sizes[i] + DBG_OVERHEAD || U(R->last_result) + 16 != U(p) ||
                    !block_sound(p, sizes[i], D->api)) {
                    fprintf(stderr, "\n  malloc(%zu): hook saw %ld call(s), size %zu\n", sizes[i], R->mallocs - m0, R->last_size);
                    result = false;
                }
                D->free(p);
            }
        }
        snprintf(name, sizeof name, "§3.4: %s calloc(3, 7) asks the wrapped allocator for calloc(1, 45)", D->name);
        CHECK_BODY(name) {
            long c0 = R->callocs;
            void* p = D->calloc(3, 7);
            result = p && R->callocs == c0 + 1 && R->last_nelem == 1 && R->last_elsize == 45 && all_zero(p, 21) && block_sound(p, 21, D->api);
            if (!result) fprintf(stderr, "\n  calloc(%zu, %zu)\n", R->last_nelem, R->last_elsize);
            D->free(p);
        }
        snprintf(name, sizeof name, "item 33: %s realloc(p, 100) asks for realloc(p - 16, 124)", D->name);
        CHECK_BODY(name) {
            void* p = D->malloc(10);
            long r0 = R->reallocs;
            void* q = p ? D->realloc(p, 100) : NULL;
            result = q && R->reallocs == r0 + 1 && R->last_size == 124 && U(R->realloc_ptr) + 16 == U(p);
            D->free(q ? q : p);
        }
    }
    if (!pym) return;
    for (int d = 1; d <= 2; d++) {
        const dom* D = &DOM[d];
        char name[240];
        snprintf(name, sizeof name, "item 33: %s malloc(488) stays in pymalloc (512-byte block; the RAW allocator is not called); malloc(489) goes to RAW, whose hooks add 24 more (537)", D->name);
        CHECK_BODY(name) {
            long r0 = REC[0].mallocs;
            phn_stats s0 = stats_now();
            void* a = D->malloc(488);
            phn_stats s1 = stats_now();
            long r1 = REC[0].mallocs;
            void* b = D->malloc(489);
            phn_stats s2 = stats_now();
            long r2 = REC[0].mallocs;
            result = a && b && r1 == r0 && s1.size_classes[31].blocks_in_use == s0.size_classes[31].blocks_in_use + 1 &&
                     s1.raw_allocated_blocks == s0.raw_allocated_blocks && r2 == r1 + 1 && REC[0].last_size == 489 + 2 * DBG_OVERHEAD &&
                     s2.raw_allocated_blocks == s1.raw_allocated_blocks + 1 && stats_blocks_in_use(&s2) == stats_blocks_in_use(&s1);
            if (!result)
                fprintf(stderr, "\n  RAW calls %ld then %ld (last size %zu); class 31 %+lld; raw blocks %+lld %+lld\n", r1 - r0, r2 - r1, REC[0].last_size,
                        (long long)(s1.size_classes[31].blocks_in_use - s0.size_classes[31].blocks_in_use),
                        (long long)(s1.raw_allocated_blocks - s0.raw_allocated_blocks), (long long)(s2.raw_allocated_blocks - s1.raw_allocated_blocks));
            D->free(a);
            D->free(b);
        }
    }
}

static void custom_poison(void) {
    static const size_t sizes[] = {0, 5, 100, 488, 489, 1000, 5000};
    for (int d = 0; d < 3; d++) {
        const dom* D = &DOM[d];
        rec_alloc* R = &REC[d];
        char name[220];
        snprintf(name, sizeof name, "item 32: %s free fills the whole block (size field, id, pads, data, trailer) with 0xDD before releasing it", D->name);
        CHECK_BODY(name) {
            result = true;
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                for (int zero = 0; zero < 2; zero++) {
                    size_t n = sizes[i];
                    void* p = zero ? D->calloc(1, n) : D->malloc(n);
                    if (!p) { result = false; continue; }
                    fill_pattern(p, n, 9);
                    long f0 = R->frees;
                    D->free(p);
                    if (R->frees != f0 + 1 || U(R->freed_ptr) + 16 != U(p) || R->freed_len != n + DBG_OVERHEAD ||
                        !all_bytes(R->freed, R->freed_len, DEADBYTE)) {
                        fprintf(stderr, "\n  %s(%zu): free saw %p, %zu bytes", zero ? "calloc" : "malloc", n, R->freed_ptr, R->freed_len);
                        print_bytes("as freed", R->freed, R->freed_len);
                        result = false;
                    }
                }
            }
        }
        snprintf(name, sizeof name, "§3.4: %s realloc 100 -> 2000 (moves): the old block is all 0xDD when the wrapped realloc is called; contents kept", D->name);
        CHECK_BODY(name) {
            unsigned char* p = B(D->malloc(100));
            result = p != NULL;
            if (!p) continue;  /* ends the check, counted as failed */
            fill_pattern(p, 100, 10);
            unsigned char* q = B(D->realloc(p, 2000));
            result = q && U(R->realloc_ptr) + 16 == U(p) && R->realloc_len == 124 && all_bytes(R->realloc_old, 124, DEADBYTE) &&
                     block_sound(q, 2000, D->api) && check_pattern(q, 100, 10) && all_bytes(q + 100, 1900, CLEANBYTE);
            if (!result) print_bytes("old block at the call", R->realloc_old, R->realloc_len);
            D->free(q ? q : p);
        }
        snprintf(name, sizeof name, "§3.4: %s realloc 300 -> 2000: header + first 64 and last 64 + trailer are 0xDD at the call, the middle intact; contents kept", D->name);
        CHECK_BODY(name) {
            unsigned char* p = B(D->malloc(300));
            result = p != NULL;
            if (!p) continue;  /* ends the check, counted as failed */
            fill_pattern(p, 300, 11);
            unsigned char* q = B(D->realloc(p, 2000));
            const unsigned char* o = R->realloc_old;
            unsigned char expect_mid[300];
            fill_pattern(expect_mid, 300, 11);
            result = q && R->realloc_len == 324 && all_bytes(o, 16 + 64, DEADBYTE) && memcmp(o + 80, expect_mid + 64, 300 - 128) == 0 &&
                     all_bytes(o + 16 + 300 - 64, 64 + 8, DEADBYTE) && block_sound(q, 2000, D->api) && check_pattern(q, 300, 11) &&
                     all_bytes(q + 300, 1700, CLEANBYTE);
            if (!result) print_bytes("old block at the call", R->realloc_old, R->realloc_len);
            D->free(q ? q : p);
        }
        snprintf(name, sizeof name, "§3.4: %s realloc failing in the wrapped allocator (100 and 300 bytes): NULL, the block rebuilt - header, trailer, contents", D->name);
        CHECK_BODY(name) {
            result = true;
            for (size_t n = 100; n <= 300; n += 200) {
                unsigned char* p = B(D->malloc(n));
                if (!p) { result = false; break; }
                fill_pattern(p, n, 12);
                R->fail_next_realloc = 1;
                void* q = D->realloc(p, 4000);
                if (q != NULL || !block_sound(p, n, D->api) || !check_pattern(p, n, 12)) {
                    fprintf(stderr, "\n  %zu bytes: realloc returned %p", n, q);
                    result = false;
                }
                unsigned char* r = B(D->realloc(p, n + 1));  /* still a valid block of the domain */
                if (!r || !check_pattern(r, n, 12) || !block_sound(r, n + 1, D->api)) result = false;
                D->free(r ? r : p);
            }
            R->fail_next_realloc = 0;
        }
    }
}

static void custom_idempotent_and_rewrap(int pym) {
    phn_allocator first[3];
    get3(first);
    CHECK_BODY("item 37: phn_setup_debug_hooks() twice: each domain's allocator is identical after the second call") {
        phn_allocator second[3];
        int rc = phn_setup_debug_hooks();
        get3(second);
        result = rc == 0 && memcmp(first, second, sizeof first) == 0;
    }
    CHECK_BODY("item 37: the wrapped allocators still see N + 24 (not N + 48) after the second setup") {
        result = true;
        for (int d = 0; d < 3; d++) {
            void* p = DOM[d].malloc(40);
            if (!p || REC[d].last_size != 64 || !block_sound(p, 40, DOM[d].api)) {
                fprintf(stderr, "\n  %s: %zu\n", DOM[d].name, REC[d].last_size);
                result = false;
            }
            DOM[d].free(p);
        }
    }
    CHECK_BODY("a new allocator set over the MEM hooks (phn_set_allocator): name NULL, it sees the user's sizes") {
        result = rec_install(&REC2, PHN_DOMAIN_MEM) == 0 && memcmp(&REC2.prev, &first[1], sizeof first[1]) == 0 && name_is(NULL);
        void* p = phn_mem_malloc(10);
        result = result && p && REC2.last_size == 10 && REC[1].last_size == 34 && block_sound(p, 10, 'm');
        phn_mem_free(p);
    }
    CHECK_BODY("phn_setup_debug_hooks() again wraps the new MEM allocator (a new struct; RAW and OBJ unchanged)") {
        int rc = phn_setup_debug_hooks();
        phn_allocator now[3];
        get3(now);
        result = rc == 0 && memcmp(&now[1], &first[1], sizeof now[1]) != 0 && now[1].ctx != (void*)&REC2 &&
                 memcmp(&now[0], &first[0], sizeof now[0]) == 0 && memcmp(&now[2], &first[2], sizeof now[2]) == 0 && name_is(NULL);
    }
    CHECK_BODY("the re-wrapped MEM domain: outer header (size 10) on the new allocator's block (34), inner header (size 34) below; free poisons both") {
        void* p = phn_mem_malloc(10);
        result = p && REC2.last_size == 34 && REC[1].last_size == 58 && U(REC2.last_result) + 16 == U(p) && block_sound(p, 10, 'm') &&
                 block_sound(B(p) - 16, 34, 'm') && U(REC[1].last_result) + 32 == U(p);
        if (p && !result) print_bytes("bytes from p-32", B(p) - 32, 58);
        phn_mem_free(p);
        result = result && REC2.freed_len == 34 && all_bytes(REC2.freed, 34, DEADBYTE) && REC[1].freed_len == 58 &&
                 all_bytes(REC[1].freed, 58, DEADBYTE);
    }
    CHECK_BODY("re-wrapped MEM: 500 mixed calls with content checks, no fatal error") {
        static slot slots[50];
        static const int mem_only[] = {1};
        memset(slots, 0, sizeof slots);
        int f0 = fatal_calls;
        int bad = random_traffic(99u, 500, mem_only, 1, slots, 50);
        bad += free_slots(slots, 50);
        result = bad == 0 && fatal_calls == f0 && phn_validate() == 0;
    }
    (void)pym;
}

static int custom_child(const char* mode) {
    const char* env = getenv("PYHEAPNATIVE_ALLOCATOR");
    int pym = !(env && strcmp(env, "malloc") == 0);
    (void)mode;
    phn_set_fatal_handler(on_fatal, NULL);
    CHECK("phn_init() == 0", phn_init() == 0);
    CHECK_BODY("recording allocators installed on RAW, MEM, OBJ; phn_setup_debug_hooks() == 0 on top of them") {
        result = rec_install(&REC[0], 0) == 0 && rec_install(&REC[1], 1) == 0 && rec_install(&REC[2], 2) == 0 && name_is(NULL);
        result = result && phn_setup_debug_hooks() == 0;
    }
    CHECK_BODY("phn_allocator_name() is NULL: the hooks wrap custom allocators") { result = name_is(NULL); }
    custom_overhead(pym);
    custom_poison();
    custom_idempotent_and_rewrap(pym);
    CHECK_BODY("no fatal error; the recording allocators saw no unknown pointer; phn_validate() == 0") {
        result = fatal_calls == 0 && REC[0].unknown == 0 && REC[1].unknown == 0 && REC[2].unknown == 0 && REC2.unknown == 0 && phn_validate() == 0;
        if (!result) fprintf(stderr, "\n  %d fatal (last: %s); unknown frees %ld %ld %ld %ld\n", fatal_calls, fatal_msg, REC[0].unknown, REC[1].unknown, REC[2].unknown, REC2.unknown);
    }
    phn_set_fatal_handler(NULL, NULL);
    return print_test_summary();
}

/* ================================================================== --rewrap */

static int rewrap_child(const char* mode) {
    const char* env = getenv("PYHEAPNATIVE_ALLOCATOR");
    int pym = !(env && strcmp(env, "malloc") == 0);
    const char* base = pym ? "pymalloc" : "malloc";
    const char* dbg = pym ? "pymalloc_debug" : "malloc_debug";
    char name[200];
    (void)mode;
    phn_allocator builtin[3];
    get3(builtin);
    snprintf(name, sizeof name, "phn_allocator_name() is \"%s\" before phn_setup_debug_hooks(), \"%s\" after", base, dbg);
    CHECK_BODY(name) {
        result = name_is(base);
        result = result && phn_setup_debug_hooks() == 0 && name_is(dbg);
        void* p = phn_mem_malloc(5);
        result = result && p && block_sound(p, 5, 'm') && all_bytes(p, 5, CLEANBYTE);
        phn_mem_free(p);
    }
    CHECK_BODY("the built-in MEM allocator restored (no MEM block live): name NULL; plain blocks again") {
        result = phn_set_allocator(PHN_DOMAIN_MEM, &builtin[1]) == 0 && name_is(NULL);
        void* p = phn_mem_malloc(5);
        result = result && p != NULL;
        phn_mem_free(p);
    }
    snprintf(name, sizeof name, "phn_setup_debug_hooks() wraps the restored MEM allocator again: name \"%s\", blocks have the header", dbg);
    CHECK_BODY(name) {
        result = phn_setup_debug_hooks() == 0 && name_is(dbg);
        void* p = phn_mem_malloc(5);
        result = result && p && block_sound(p, 5, 'm') && all_bytes(p, 5, CLEANBYTE);
        phn_mem_free(p);
    }
    CHECK("phn_validate() == 0", phn_validate() == 0);
    return print_test_summary();
}

/* ================================================================== --prefix */

/* An allocator that keeps 16 bytes of its own in front of every block (a size, as many
 * tracking allocators do) and forwards to the built-in one. */
typedef struct prefix_alloc {
    phn_allocator prev;
    long mallocs, frees, bad_frees;
} prefix_alloc;

static void* PHN_CALL pre_malloc(void* ctx, size_t n) {
    prefix_alloc* a = (prefix_alloc*)ctx;
    unsigned char* b = (unsigned char*)a->prev.malloc(a->prev.ctx, n + 16);
    if (!b) return NULL;
    a->mallocs++;
    memcpy(b, &n, sizeof n);
    memcpy(b + 8, "PREFIX!", 8);
    return b + 16;
}
static void* PHN_CALL pre_calloc(void* ctx, size_t x, size_t y) {
    prefix_alloc* a = (prefix_alloc*)ctx;
    size_t n = x * y;
    unsigned char* b = (unsigned char*)a->prev.calloc(a->prev.ctx, 1, n + 16);
    if (!b) return NULL;
    a->mallocs++;
    memcpy(b, &n, sizeof n);
    memcpy(b + 8, "PREFIX!", 8);
    return b + 16;
}
static void* PHN_CALL pre_realloc(void* ctx, void* p, size_t n) {
    prefix_alloc* a = (prefix_alloc*)ctx;
    if (!p) return pre_malloc(ctx, n);
    unsigned char* b = (unsigned char*)a->prev.realloc(a->prev.ctx, (unsigned char*)p - 16, n + 16);
    if (!b) return NULL;
    memcpy(b, &n, sizeof n);
    return b + 16;
}
static void PHN_CALL pre_free(void* ctx, void* p) {
    prefix_alloc* a = (prefix_alloc*)ctx;
    if (!p) return;
    unsigned char* b = (unsigned char*)p - 16;
    if (memcmp(b + 8, "PREFIX!", 8) != 0) a->bad_frees++;
    a->frees++;
    a->prev.free(a->prev.ctx, b);
}

static int prefix_child(const char* mode) {
    static prefix_alloc pa[3];
    (void)mode;
    phn_set_fatal_handler(on_fatal, NULL);
    CHECK_BODY("an allocator keeping a 16-byte header of its own installed on RAW, MEM and OBJ; phn_setup_debug_hooks() on top") {
        result = true;
        for (int d = 0; d < 3; d++) {
            memset(&pa[d], 0, sizeof pa[d]);
            phn_get_allocator(d, &pa[d].prev);
            phn_allocator a = {&pa[d], pre_malloc, pre_calloc, pre_realloc, pre_free};
            if (phn_set_allocator(d, &a) != 0) result = false;
        }
        result = result && phn_setup_debug_hooks() == 0;
    }
    static const size_t sizes[] = {0, 1, 16, 100, 300, 470, 488, 489, 1000, 3000};
    for (int d = 0; d < 3; d++) {
        char name[240];
        snprintf(name, sizeof name, "%s under the hooks over that allocator: malloc / realloc / free of 10 sizes 0..3000: no fatal error (the hooks do not take the block for an interior pointer)", DOM[d].name);
        CHECK_BODY(name) {
            fatal_calls = 0;
            fatal_msg[0] = '\0';
            long m0 = pa[d].mallocs, f0 = pa[d].frees;
            result = true;
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                size_t n = sizes[i];
                unsigned char* p = B(DOM[d].malloc(n));
                if (!p || !block_sound(p, n, DOM[d].api)) { result = false; continue; }
                fill_pattern(p, n, 1);
                unsigned char* q = B(DOM[d].realloc(p, n + 50));
                if (!q) { result = false; q = p; }
                else if (!check_pattern(q, n, 1) || !block_sound(q, n + 50, DOM[d].api)) result = false;
                DOM[d].free(q);
            }
            result = result && fatal_calls == 0 && pa[d].frees - f0 == pa[d].mallocs - m0 && pa[d].bad_frees == 0;
            if (!result)
                fprintf(stderr, "\n  %d fatal error(s), last: \"%s\"; allocator: %ld mallocs, %ld frees\n", fatal_calls, fatal_msg,
                        pa[d].mallocs - m0, pa[d].frees - f0);
        }
    }
    phn_set_fatal_handler(NULL, NULL);
    return print_test_summary();
}

/* ================================================================== --fatal <scenario> */

static void say(const char* key, const void* v) { printf("%s=0x%lx\n", key, (unsigned long)U(v)); }

/* the block under test: P (data pointer), T (tail = P + n), Q (what the bad call receives) */
#define BLOCK(expr, n)              \
    do {                            \
        p = B(expr);                \
        say("P", p);                \
        say("T", p + (n));          \
        say("Q", p);                \
    } while (0)
#define GO() fflush(stdout)

static int fatal_child(const char* sc) {
    unsigned char* p = NULL;
    void* r = NULL;
    int local[4] = {0};
    phn_init();
#define SC(name) else if (strcmp(sc, name) == 0)
    if (0) {
    }
    /* CPython's test_mem.py cases, and the other checks of §3.5 */
    SC("overflow") { BLOCK(phn_mem_malloc(16), 16); GO(); p[16] = 'x'; phn_mem_free(p); }
    SC("api_misuse") { BLOCK(phn_mem_malloc(16), 16); GO(); phn_raw_free(p); }
    SC("obj_freed_by_mem") { BLOCK(phn_obj_malloc(16), 16); GO(); phn_mem_free(p); }
    SC("mem_freed_by_obj") { BLOCK(phn_mem_malloc(16), 16); GO(); phn_obj_free(p); }
    SC("raw_freed_by_mem") { BLOCK(phn_raw_malloc(16), 16); GO(); phn_mem_free(p); }
    SC("large_obj_freed_by_mem") { BLOCK(phn_obj_malloc(1000), 1000); GO(); phn_mem_free(p); }
    SC("underflow") { BLOCK(phn_mem_malloc(16), 16); GO(); p[-1] = 'x'; phn_mem_free(p); }
    SC("id_before_trailing") { BLOCK(phn_mem_malloc(16), 16); GO(); p[16] = 'x'; phn_raw_free(p); }
    SC("id_before_leading") { BLOCK(phn_obj_malloc(16), 16); GO(); p[-1] = 'x'; phn_mem_free(p); }
    SC("leading_before_trailing") { BLOCK(phn_mem_malloc(16), 16); GO(); p[-1] = 'x'; p[16] = 'x'; phn_mem_free(p); }
    SC("overflow_realloc") { BLOCK(phn_mem_malloc(16), 16); GO(); p[16] = 'x'; r = phn_mem_realloc(p, 32); }
    SC("api_misuse_realloc") { BLOCK(phn_mem_malloc(16), 16); GO(); r = phn_raw_realloc(p, 32); }
    SC("underflow_realloc") { BLOCK(phn_mem_malloc(16), 16); GO(); p[-1] = 'x'; r = phn_mem_realloc(p, 32); }
    SC("raw_overflow") { BLOCK(phn_raw_malloc(16), 16); GO(); p[16] = 'x'; phn_raw_free(p); }
    SC("large_overflow") { BLOCK(phn_obj_malloc(1000), 1000); GO(); p[1000] = 'x'; phn_obj_free(p); }
    SC("large_underflow_realloc") { BLOCK(phn_mem_malloc(1000), 1000); GO(); p[-1] = 'x'; r = phn_mem_realloc(p, 10); }
    SC("zero_overflow") { BLOCK(phn_raw_malloc(0), 0); GO(); p[0] = 'x'; phn_raw_free(p); }
    SC("last_pad") { BLOCK(phn_mem_malloc(16), 16); GO(); p[23] = 'x'; phn_mem_free(p); }
    SC("data_100") { BLOCK(phn_mem_malloc(100), 100); GO(); for (int i = 0; i < 100; i++) p[i] = (unsigned char)i; p[100] = 'x'; phn_mem_free(p); }
    SC("data_9") { BLOCK(phn_obj_malloc(9), 9); GO(); for (int i = 0; i < 9; i++) p[i] = (unsigned char)i; p[9] = 'x'; phn_obj_free(p); }
    SC("corrupt_size") { BLOCK(phn_mem_malloc(16), 16); GO(); p[-16] = 1; phn_mem_free(p); }
    /* beyond CPython (reliability.md §4) */
    SC("double_free_mem") { BLOCK(phn_mem_malloc(100), 100); GO(); phn_mem_free(p); phn_mem_free(p); }
    SC("double_free_obj") { BLOCK(phn_obj_malloc(16), 16); GO(); phn_obj_free(p); phn_obj_free(p); }
    SC("double_free_raw") { BLOCK(phn_raw_malloc(100), 100); GO(); phn_raw_free(p); phn_raw_free(p); }
    SC("double_free_large") { BLOCK(phn_mem_malloc(1000), 1000); GO(); phn_mem_free(p); phn_mem_free(p); }
    SC("double_free_realloc") { BLOCK(phn_mem_malloc(100), 100); GO(); phn_mem_free(p); r = phn_mem_realloc(p, 10); }
    SC("interior_mem") { BLOCK(phn_mem_malloc(100), 100); say("Q", p + 8); GO(); phn_mem_free(p + 8); }
    SC("interior_raw") { BLOCK(phn_raw_malloc(100), 100); say("Q", p + 8); GO(); phn_raw_free(p + 8); }
    SC("interior_large") { BLOCK(phn_mem_malloc(1000), 1000); say("Q", p + 8); GO(); phn_mem_free(p + 8); }
    SC("interior_large_deep") { BLOCK(phn_mem_malloc(1000), 1000); say("Q", p + 504); GO(); phn_mem_free(p + 504); }
    SC("interior_realloc") { BLOCK(phn_obj_malloc(100), 100); say("Q", p + 16); GO(); r = phn_obj_realloc(p + 16, 10); }
    SC("foreign_wild") { p = B((void*)(uintptr_t)0x12345678); say("Q", p); GO(); phn_mem_free(p); }
    SC("foreign_stack") { p = B(&local[2]); say("Q", p); GO(); phn_obj_free(p); }
    SC("foreign_libc") { p = B(malloc(100)); say("Q", p); GO(); phn_mem_free(p); }
    SC("foreign_libc_raw") { p = B(malloc(5000)); say("Q", p); GO(); phn_raw_free(p); }
    SC("foreign_low") { p = B((void*)(uintptr_t)8); say("Q", p); GO(); phn_raw_free(p); }
    SC("foreign_realloc") { p = B((void*)(uintptr_t)0x12345678); say("Q", p); GO(); r = phn_obj_realloc(p, 10); }
    else {
        printf("unknown scenario %s\n", sc);
        return 2;
    }
#undef SC
    printf("survived r=%p local=%d\n", r, local[0]);
    return 0;
}

/* ================================================================== parent: fatal cases */

#define PTR "(0x)?[0-9a-fA-F]+"
#define HEAD(api, n) "^Debug memory block at address p=@P@: API '" api "'\n    " n " bytes originally requested\n"
#define LEAD_OK "    The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected\\.\n"
#define LEAD_BAD1                                                                                   \
    "    The 7 pad bytes at p-7 are not all FORBIDDENBYTE \\(0xfd\\):\n"                              \
    "        at p-7: 0xfd\n        at p-6: 0xfd\n        at p-5: 0xfd\n        at p-4: 0xfd\n"        \
    "        at p-3: 0xfd\n        at p-2: 0xfd\n        at p-1: 0x78 \\*\\*\\* OUCH\n"              \
    "    Because memory is corrupted at the start, the count of bytes requested\n"                   \
    "       may be bogus, and checking the trailing pad bytes may segfault\\.\n"
#define TAIL_OK "    The 8 pad bytes at tail=@T@ are FORBIDDENBYTE, as expected\\.\n"
#define TAIL_BAD0                                                                                   \
    "    The 8 pad bytes at tail=@T@ are not all FORBIDDENBYTE \\(0xfd\\):\n"                         \
    "        at tail\\+0: 0x78 \\*\\*\\* OUCH\n        at tail\\+1: 0xfd\n        at tail\\+2: 0xfd\n"  \
    "        at tail\\+3: 0xfd\n        at tail\\+4: 0xfd\n        at tail\\+5: 0xfd\n"                \
    "        at tail\\+6: 0xfd\n        at tail\\+7: 0xfd\n"
#define TAIL_BAD7                                                                                   \
    "    The 8 pad bytes at tail=@T@ are not all FORBIDDENBYTE \\(0xfd\\):\n"                         \
    "        at tail\\+0: 0xfd\n        at tail\\+1: 0xfd\n        at tail\\+2: 0xfd\n"                \
    "        at tail\\+3: 0xfd\n        at tail\\+4: 0xfd\n        at tail\\+5: 0xfd\n"                \
    "        at tail\\+6: 0xfd\n        at tail\\+7: 0x78 \\*\\*\\* OUCH\n"
#define DATA16 "    Data at p: cd cd cd cd cd cd cd cd cd cd cd cd cd cd cd cd\n"
#define DATA_LONG "    Data at p: cd cd cd cd cd cd cd cd \\.\\.\\. cd cd cd cd cd cd cd cd\n"
#define NO_TRACE "\nEnable tracemalloc to get the memory block allocation traceback\n\n"
#define FATAL(fn, msg) "Fatal error: " fn ": " msg "\n$"
#define RFREE "_PyMem_DebugRawFree"
#define RREALLOC "_PyMem_DebugRawRealloc"
/* a diagnosis beyond CPython: a dump about Q, then the fatal line */
#define BEYOND(fn, msg) "^Debug memory block at address p=@Q@[^\n]*\n.*" NO_TRACE FATAL(fn, msg)
#define ALREADY_FREED "block already freed \\(double free or use after free\\) at p=@P@"
#define FOREIGN "foreign pointer p=@Q@: not allocated by this allocator"

/* CPython 3.13 Lib/test/test_capi/test_mem.py, test_buffer_overflow and test_api_misuse, in
 * POSIX ERE: PTR without (?:), "Fatal Python error" relaxed to "Fatal (Python )?error". */
static const char CPY_OVERFLOW[] =
    "Debug memory block at address p=" PTR ": API 'm'\n"
    "    16 bytes originally requested\n"
    "    The [0-9] pad bytes at p-[0-9] are FORBIDDENBYTE, as expected.\n"
    "    The [0-9] pad bytes at tail=" PTR " are not all FORBIDDENBYTE \\(0x[0-9a-f]{2}\\):\n"
    "        at tail\\+0: 0x78 \\*\\*\\* OUCH\n"
    "        at tail\\+1: 0xfd\n"
    "        at tail\\+2: 0xfd\n"
    "        .*\n"
    "(    The block was made by call #[0-9]+ to debug malloc/realloc.\n)?"
    "    Data at p: cd cd cd .*\n"
    "\n"
    "Enable tracemalloc to get the memory block allocation traceback\n"
    "\n"
    "Fatal (Python )?error: _PyMem_DebugRawFree: bad trailing pad byte";
static const char CPY_API_MISUSE[] =
    "Debug memory block at address p=" PTR ": API 'm'\n"
    "    16 bytes originally requested\n"
    "    The [0-9] pad bytes at p-[0-9] are FORBIDDENBYTE, as expected.\n"
    "    The [0-9] pad bytes at tail=" PTR " are FORBIDDENBYTE, as expected.\n"
    "(    The block was made by call #[0-9]+ to debug malloc/realloc.\n)?"
    "    Data at p: cd cd cd .*\n"
    "\n"
    "Enable tracemalloc to get the memory block allocation traceback\n"
    "\n"
    "Fatal (Python )?error: _PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'r'\n";

enum { B_PYMALLOC = 1, B_MALLOC = 2, B_DEBUG = 4 };
#define B_BOTH (B_PYMALLOC | B_MALLOC)
#define B_ALL (B_PYMALLOC | B_MALLOC | B_DEBUG)

typedef struct fatal_case {
    const char* scenario;
    int backends;
    const char* what;
    const char* pattern;   /* with @P@ @T@ @Q@ replaced by the child's pointers */
    const char* cpython;   /* CPython's own regex, or NULL */
} fatal_case;

static const fatal_case FATAL_CASES[] = {
    {"overflow", B_ALL, "item 35: PyMem_Malloc(16); p[16] = 'x'; PyMem_Free(p) (test_buffer_overflow)",
     HEAD("m", "16") LEAD_OK TAIL_BAD0 DATA16 NO_TRACE FATAL(RFREE, "bad trailing pad byte"), CPY_OVERFLOW},
    {"api_misuse", B_ALL, "item 34: PyMem_Malloc(16) freed with PyMem_RawFree (test_api_misuse)",
     HEAD("m", "16") LEAD_OK TAIL_OK DATA16 NO_TRACE FATAL(RFREE, "bad ID: Allocated using API 'm', verified using API 'r'"), CPY_API_MISUSE},
    {"obj_freed_by_mem", B_BOTH, "item 34: PyObject_Malloc(16) freed with PyMem_Free",
     HEAD("o", "16") LEAD_OK TAIL_OK DATA16 NO_TRACE FATAL(RFREE, "bad ID: Allocated using API 'o', verified using API 'm'"), NULL},
    {"mem_freed_by_obj", B_BOTH, "item 34: PyMem_Malloc(16) freed with PyObject_Free",
     HEAD("m", "16") LEAD_OK TAIL_OK DATA16 NO_TRACE FATAL(RFREE, "bad ID: Allocated using API 'm', verified using API 'o'"), NULL},
    {"raw_freed_by_mem", B_BOTH, "item 34: PyMem_RawMalloc(16) freed with PyMem_Free",
     HEAD("r", "16") LEAD_OK TAIL_OK DATA16 NO_TRACE FATAL(RFREE, "bad ID: Allocated using API 'r', verified using API 'm'"), NULL},
    {"large_obj_freed_by_mem", B_BOTH, "item 34: PyObject_Malloc(1000) (a RAW-backed block) freed with PyMem_Free",
     HEAD("o", "1000") LEAD_OK TAIL_OK DATA_LONG NO_TRACE FATAL(RFREE, "bad ID: Allocated using API 'o', verified using API 'm'"), NULL},
    {"underflow", B_BOTH, "item 35: p[-1] = 'x': leading pad dump, the two warning lines, \"bad leading pad byte\"",
     HEAD("m", "16") LEAD_BAD1 TAIL_OK DATA16 NO_TRACE FATAL(RFREE, "bad leading pad byte"), NULL},
    {"id_before_trailing", B_BOTH, "item 35: bad id and bad trailing pad: the id is checked first",
     HEAD("m", "16") LEAD_OK TAIL_BAD0 DATA16 NO_TRACE FATAL(RFREE, "bad ID: Allocated using API 'm', verified using API 'r'"), NULL},
    {"id_before_leading", B_BOTH, "item 35: bad id and bad leading pad: the id is checked first",
     HEAD("o", "16") LEAD_BAD1 TAIL_OK DATA16 NO_TRACE FATAL(RFREE, "bad ID: Allocated using API 'o', verified using API 'm'"), NULL},
    {"leading_before_trailing", B_BOTH, "item 35: bad leading and trailing pads: \"bad leading pad byte\"",
     HEAD("m", "16") LEAD_BAD1 TAIL_BAD0 DATA16 NO_TRACE FATAL(RFREE, "bad leading pad byte"), NULL},
    {"overflow_realloc", B_BOTH, "§3.5: p[16] = 'x'; PyMem_Realloc(p, 32): \"_PyMem_DebugRawRealloc: bad trailing pad byte\"",
     HEAD("m", "16") LEAD_OK TAIL_BAD0 DATA16 NO_TRACE FATAL(RREALLOC, "bad trailing pad byte"), NULL},
    {"api_misuse_realloc", B_BOTH, "§3.5: PyMem_Malloc(16) reallocated with PyMem_RawRealloc",
     HEAD("m", "16") LEAD_OK TAIL_OK DATA16 NO_TRACE FATAL(RREALLOC, "bad ID: Allocated using API 'm', verified using API 'r'"), NULL},
    {"underflow_realloc", B_BOTH, "§3.5: p[-1] = 'x'; PyMem_Realloc: \"_PyMem_DebugRawRealloc: bad leading pad byte\"",
     HEAD("m", "16") LEAD_BAD1 TAIL_OK DATA16 NO_TRACE FATAL(RREALLOC, "bad leading pad byte"), NULL},
    {"raw_overflow", B_BOTH, "item 35: PyMem_RawMalloc(16); p[16] = 'x'; PyMem_RawFree",
     HEAD("r", "16") LEAD_OK TAIL_BAD0 DATA16 NO_TRACE FATAL(RFREE, "bad trailing pad byte"), NULL},
    {"large_overflow", B_BOTH, "item 35: PyObject_Malloc(1000); p[1000] = 'x'; \"Data at p\" shows 8 ... 8 bytes",
     HEAD("o", "1000") LEAD_OK TAIL_BAD0 DATA_LONG NO_TRACE FATAL(RFREE, "bad trailing pad byte"), NULL},
    {"large_underflow_realloc", B_BOTH, "item 35: PyMem_Malloc(1000); p[-1] = 'x'; PyMem_Realloc",
     HEAD("m", "1000") LEAD_BAD1 TAIL_OK DATA_LONG NO_TRACE FATAL(RREALLOC, "bad leading pad byte"), NULL},
    {"zero_overflow", B_BOTH, "§3.6: PyMem_RawMalloc(0); p[0] = 'x': no \"Data at p\" line",
     HEAD("r", "0") LEAD_OK TAIL_BAD0 NO_TRACE FATAL(RFREE, "bad trailing pad byte"), NULL},
    {"last_pad", B_BOTH, "§3.6: p[23] = 'x' on a 16-byte block: OUCH at tail+7",
     HEAD("m", "16") LEAD_OK TAIL_BAD7 DATA16 NO_TRACE FATAL(RFREE, "bad trailing pad byte"), NULL},
    {"data_100", B_BOTH, "§3.6: \"Data at p\" of a 100-byte block: 8 first bytes, ..., 8 last bytes",
     HEAD("m", "100") LEAD_OK TAIL_BAD0 "    Data at p: 00 01 02 03 04 05 06 07 \\.\\.\\. 5c 5d 5e 5f 60 61 62 63\n" NO_TRACE
         FATAL(RFREE, "bad trailing pad byte"), NULL},
    {"data_9", B_BOTH, "§3.6: \"Data at p\" of a 9-byte block: all 9 bytes, no \"...\"",
     HEAD("o", "9") LEAD_OK TAIL_BAD0 "    Data at p: 00 01 02 03 04 05 06 07 08\n" NO_TRACE FATAL(RFREE, "bad trailing pad byte"), NULL},
    {"corrupt_size", B_BOTH, "beyond CPython: a size field of 2^56 + 16 is diagnosed without reading past the block",
     HEAD("m", "72057594037927952") LEAD_OK ".*" NO_TRACE "Fatal error: " RFREE ": bad (size field|trailing pad byte)[^\n]*\n$", NULL},
    {"double_free_mem", B_ALL, "beyond CPython: PyMem_Malloc(100) freed twice",
     BEYOND(RFREE, ALREADY_FREED), NULL},
    {"double_free_obj", B_BOTH, "beyond CPython: PyObject_Malloc(16) freed twice", BEYOND(RFREE, ALREADY_FREED), NULL},
    {"double_free_raw", B_BOTH, "beyond CPython: PyMem_RawMalloc(100) freed twice", BEYOND(RFREE, ALREADY_FREED), NULL},
    {"double_free_large", B_BOTH, "beyond CPython: PyMem_Malloc(1000) (over 488 bytes) freed twice", BEYOND(RFREE, ALREADY_FREED), NULL},
    {"double_free_realloc", B_BOTH, "beyond CPython: PyMem_Realloc of a freed block", BEYOND(RREALLOC, ALREADY_FREED), NULL},
    {"interior_mem", B_ALL, "beyond CPython: PyMem_Free(p + 8) of a 100-byte block",
     BEYOND(RFREE, "interior pointer p=@Q@: 8 bytes into the block at p=@P@"), NULL},
    {"interior_raw", B_BOTH, "beyond CPython: PyMem_RawFree(p + 8) of a 100-byte block",
     BEYOND(RFREE, "interior pointer p=@Q@: 8 bytes into the block at p=@P@"), NULL},
    {"interior_large", B_BOTH, "beyond CPython: PyMem_Free(p + 8) of a 1000-byte block",
     BEYOND(RFREE, "interior pointer p=@Q@: 8 bytes into the block at p=@P@"), NULL},
    {"interior_large_deep", B_BOTH, "beyond CPython: PyMem_Free(p + 504) of a 1000-byte block",
     BEYOND(RFREE, "interior pointer p=@Q@: 504 bytes into the block at p=@P@"), NULL},
    {"interior_realloc", B_BOTH, "beyond CPython: PyObject_Realloc(p + 16, 10)",
     BEYOND(RREALLOC, "interior pointer p=@Q@: 16 bytes into the block at p=@P@"), NULL},
    {"foreign_wild", B_ALL, "beyond CPython: PyMem_Free((void*)0x12345678)", BEYOND(RFREE, FOREIGN), NULL},
    {"foreign_stack", B_BOTH, "beyond CPython: PyObject_Free of a stack address", BEYOND(RFREE, FOREIGN), NULL},
    {"foreign_libc", B_BOTH, "beyond CPython: PyMem_Free of a libc malloc(100) block", BEYOND(RFREE, FOREIGN), NULL},
    {"foreign_libc_raw", B_BOTH, "beyond CPython: PyMem_RawFree of a libc malloc(5000) block", BEYOND(RFREE, FOREIGN), NULL},
    {"foreign_low", B_BOTH, "beyond CPython: PyMem_RawFree((void*)8) (p - 16 wraps around)", BEYOND(RFREE, FOREIGN), NULL},
    {"foreign_realloc", B_BOTH, "beyond CPython: PyObject_Realloc((void*)0x12345678, 10)", BEYOND(RREALLOC, FOREIGN), NULL},
};

static char* expand(const char* pattern, const char* P, const char* T, const char* Q) {
    size_t cap = strlen(pattern) * 2 + 256, len = 0;
    char* out = (char*)malloc(cap);
    if (!out) return NULL;
    for (const char* s = pattern; *s;) {
        const char* rep = NULL;
        if (strncmp(s, "@P@", 3) == 0) rep = P;
        else if (strncmp(s, "@T@", 3) == 0) rep = T;
        else if (strncmp(s, "@Q@", 3) == 0) rep = Q;
        size_t add = rep ? strlen(rep) : 1;
        if (len + add + 1 > cap) {
            cap = (len + add + 1) * 2;
            char* n = (char*)realloc(out, cap);
            if (!n) { free(out); return NULL; }
            out = n;
        }
        if (rep) {
            memcpy(out + len, rep, add);
            s += 3;
        } else {
            out[len] = *s++;
        }
        len += add;
    }
    out[len] = '\0';
    return out;
}

static void run_fatal_case(const fatal_case* c, const char* backend) {
    char env[96];
    snprintf(env, sizeof env, "PYHEAPNATIVE_ALLOCATOR=%s", backend);
    const char* envs[] = {env, NULL};
    child_result r;
    if (run_self("--fatal", c->scenario, envs, &r) != 0) {
        memset(&r, 0, sizeof r);
        r.out = strdup("");
        r.err = strdup("");
    }
    char name[400], P[40], T[40], Q[40];
    child_value(r.out, "P", P, sizeof P);
    child_value(r.out, "T", T, sizeof T);
    child_value(r.out, "Q", Q, sizeof Q);

    snprintf(name, sizeof name, "[%s] %s: %s: SIGABRT (not SIGSEGV), the call does not return", backend, c->scenario, c->what);
    CHECK_BODY(name) {
        result = r.signaled && r.signo == SIGABRT && strstr(r.out, "survived") == NULL;
        if (!result) {
            fprintf(stderr, "\n  child ");
            describe_child(&r);
            echo_prefixed("out", r.out);
            echo_prefixed("err", r.err);
        }
    }
    char* pat = expand(c->pattern, P, T, Q);
    snprintf(name, sizeof name, "[%s] %s: stderr is the expected dump and fatal line (exact pointers)", backend, c->scenario);
    CHECK_BODY(name) {
        result = pat && regex_search(pat, r.err) == 1;
        if (!result) {
            fprintf(stderr, "\n  pattern (P=%s T=%s Q=%s):\n", P, T, Q);
            echo_prefixed("re", pat ? pat : "(null)");
            echo_prefixed("err", r.err);
        }
    }
    free(pat);
    if (c->cpython) {
        snprintf(name, sizeof name, "[%s] %s: CPython's test_capi/test_mem.py regular expression matches", backend, c->scenario);
        CHECK_BODY(name) {
            result = regex_search(c->cpython, r.err) == 1;
            if (!result) echo_prefixed("err", r.err);
        }
    }
    child_result_free(&r);
}

/* ================================================================== parent */

static void run_suite_child(const char* mode, const char* env_value) {
    char env[96];
    snprintf(env, sizeof env, "PYHEAPNATIVE_ALLOCATOR=%s", env_value);
    const char* envs[] = {env, NULL};
    run_child_suite(mode, env_value ? envs : NULL);
}

int main(int argc, char** argv) {
    alarm(150);
    if (argc > 1) {
        if (strncmp(argv[1], "--suite", 7) == 0) return suite_child(argv[1]);
        if (strncmp(argv[1], "--custom", 8) == 0) return custom_child(argv[1]);
        if (strncmp(argv[1], "--rewrap", 8) == 0) return rewrap_child(argv[1]);
        if (strncmp(argv[1], "--prefix", 8) == 0) return prefix_child(argv[1]);
        if (strcmp(argv[1], "--fatal") == 0 && argc > 2) return fatal_child(argv[2]);
    }

    CHECK_BODY("this process runs without hooks: phn_allocator_name() == \"pymalloc\"") { result = name_is("pymalloc"); }

    run_suite_child("--suite:pymalloc_debug", "pymalloc_debug");
    run_suite_child("--suite:malloc_debug", "malloc_debug");
    run_suite_child("--suite:debug", "debug");
    run_child_suite("--custom:pymalloc", NULL);
    run_suite_child("--custom:malloc", "malloc");
    run_child_suite("--rewrap:pymalloc", NULL);
    run_suite_child("--rewrap:malloc", "malloc");
    run_child_suite("--prefix:pymalloc", NULL);
    run_suite_child("--prefix:malloc", "malloc");

    static const char* backends[] = {"pymalloc_debug", "malloc_debug", "debug"};
    static const int flags[] = {B_PYMALLOC, B_MALLOC, B_DEBUG};
    fprintf(stderr, "\n[fatal cases]\n");
    for (size_t i = 0; i < sizeof FATAL_CASES / sizeof FATAL_CASES[0]; i++)
        for (int b = 0; b < 3; b++)
            if (FATAL_CASES[i].backends & flags[b]) run_fatal_case(&FATAL_CASES[i], backends[b]);

    CHECK_BODY("this process is still un-hooked and valid at the end") { result = name_is("pymalloc") && phn_validate() == 0; }
    return print_test_summary();
}
