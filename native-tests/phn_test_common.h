/* phn_test_common.h - helpers shared by the C tests (include after testhelper.h).
 *
 *   U(p)                      a pointer as an integer the optimiser cannot reason about
 *                             (the header marks the allocators __attribute__((malloc)), so
 *                             gcc may otherwise fold comparisons between their results)
 *   stats_get / stats_*       phn_get_stats wrappers and sums
 *   counting_hook             a phn_allocator that counts calls and forwards to the previous one
 *   arena_counter             a phn_arena_allocator that counts calls; forwards to the
 *                             default one, or serves 1 MiB-aligned / misaligned / no arenas
 *   child_value               the value of a "KEY=value" line of a child's output
 *   run_self / run_child_suite  run this test binary again in a child process (fork + exec of
 *                             /proc/self/exe) with a mode argument and some environment
 *                             variables, capturing stdout and stderr through pipes
 *   rss_bytes                 resident set size from /proc/self/statm
 *   regex_search              POSIX extended regular expression search (no REG_NEWLINE: '.'
 *                             matches a newline, '^' / '$' are the ends of the whole text)
 *   stderr_capture_*          redirect file descriptor 2 to a temporary file and read it back
 */
#ifndef PHN_TEST_COMMON_H
#define PHN_TEST_COMMON_H

#include <pyheapnative.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

/* every helper may go unused in a given test */
#define PHN_TU __attribute__((unused))

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* ------------------------------------------------------------------ pointers */

static inline PHN_TU uintptr_t U(const void* p) {
    uintptr_t v = (uintptr_t)p;
    __asm__ volatile("" : "+r"(v));
    return v;
}

static inline PHN_TU uintptr_t pool_of(const void* p) { return U(p) & ~(uintptr_t)(PHN_POOL_SIZE - 1); }
static inline PHN_TU uintptr_t pool_offset(const void* p) { return U(p) & (uintptr_t)(PHN_POOL_SIZE - 1); }

/* Fill / check a block with a pattern derived from a seed. */
static inline PHN_TU void fill_pattern(void* p, size_t n, unsigned seed) {
    unsigned char* b = (unsigned char*)p;
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(seed + i * 7u + (i >> 8));
}
static inline PHN_TU int check_pattern(const void* p, size_t n, unsigned seed) {
    const unsigned char* b = (const unsigned char*)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed + i * 7u + (i >> 8))) return 0;
    return 1;
}
static inline PHN_TU int all_zero(const void* p, size_t n) {
    const unsigned char* b = (const unsigned char*)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return 0;
    return 1;
}

/* ------------------------------------------------------------------ stats */

static inline PHN_TU int stats_get(phn_stats* s) {
    memset(s, 0, sizeof *s);
    s->struct_size = (uint32_t)sizeof *s;
    return phn_get_stats(s);
}

/* A stats snapshot that must succeed (a failure is reported once). */
static inline PHN_TU phn_stats stats_now(void) {
    phn_stats s;
    int rc = stats_get(&s);
    if (rc != PHN_OK) {
        fprintf(stderr, "\n  phn_get_stats failed: %d %s\n", rc, phn_last_error_message());
        memset(&s, 0, sizeof s);
    }
    return s;
}

static inline PHN_TU uint64_t stats_blocks_in_use(const phn_stats* s) {
    uint64_t t = 0;
    for (int i = 0; i < PHN_NB_SMALL_SIZE_CLASSES; i++) t += s->size_classes[i].blocks_in_use;
    return t;
}

static inline PHN_TU uint64_t stats_pools(const phn_stats* s) {
    uint64_t t = 0;
    for (int i = 0; i < PHN_NB_SMALL_SIZE_CLASSES; i++) t += s->size_classes[i].pools;
    return t;
}

/* The invariants every snapshot must satisfy; returns a description of the first one that
 * does not hold, or NULL. */
static PHN_TU const char* stats_inconsistency(const phn_stats* s) {
    static char why[256];
    uint64_t alloc = 0, avail = 0, headers = 0, quant = 0;
    for (int i = 0; i < PHN_NB_SMALL_SIZE_CLASSES; i++) {
        const phn_size_class_stats* c = &s->size_classes[i];
        uint32_t size = (uint32_t)(i + 1) * PHN_ALIGNMENT;
        if (c->block_size != size) {
            snprintf(why, sizeof why, "class %d block_size %u", i, c->block_size);
            return why;
        }
        if (c->blocks_per_pool != (PHN_POOL_SIZE - PHN_POOL_OVERHEAD) / size) {
            snprintf(why, sizeof why, "class %d blocks_per_pool %u", i, c->blocks_per_pool);
            return why;
        }
        if (c->full_pools > c->pools) {
            snprintf(why, sizeof why, "class %d full_pools %llu > pools %llu", i,
                     (unsigned long long)c->full_pools, (unsigned long long)c->pools);
            return why;
        }
        if (c->blocks_in_use + c->blocks_available != c->pools * c->blocks_per_pool) {
            snprintf(why, sizeof why, "class %d in_use %llu + available %llu != pools %llu * %u", i,
                     (unsigned long long)c->blocks_in_use, (unsigned long long)c->blocks_available,
                     (unsigned long long)c->pools, c->blocks_per_pool);
            return why;
        }
        if (c->blocks_in_use < c->pools || c->blocks_in_use < c->full_pools * c->blocks_per_pool) {
            snprintf(why, sizeof why, "class %d in_use %llu inconsistent with pools %llu / full %llu", i,
                     (unsigned long long)c->blocks_in_use, (unsigned long long)c->pools,
                     (unsigned long long)c->full_pools);
            return why;
        }
        alloc += c->blocks_in_use * size;
        avail += c->blocks_available * size;
        headers += c->pools * PHN_POOL_OVERHEAD;
        quant += c->pools * ((PHN_POOL_SIZE - PHN_POOL_OVERHEAD) % size);
    }
#define PHN_EXPECT_EQ(a, b)                                                                        \
    if ((uint64_t)(a) != (uint64_t)(b)) {                                                          \
        snprintf(why, sizeof why, "%s = %llu, expected %s = %llu", #a, (unsigned long long)(a), #b, \
                 (unsigned long long)(b));                                                         \
        return why;                                                                                \
    }
    PHN_EXPECT_EQ(s->version, PHN_STATS_VERSION);
    PHN_EXPECT_EQ(s->num_size_classes, PHN_NB_SMALL_SIZE_CLASSES);
    PHN_EXPECT_EQ(s->arena_size, PHN_ARENA_SIZE);
    PHN_EXPECT_EQ(s->pool_size, PHN_POOL_SIZE);
    PHN_EXPECT_EQ(s->bytes_in_allocated_blocks, alloc);
    PHN_EXPECT_EQ(s->bytes_in_available_blocks, avail);
    PHN_EXPECT_EQ(s->bytes_lost_to_pool_headers, headers);
    PHN_EXPECT_EQ(s->bytes_lost_to_quantization, quant);
    PHN_EXPECT_EQ(s->bytes_in_unused_pools, s->unused_pools * PHN_POOL_SIZE);
    PHN_EXPECT_EQ(s->bytes_in_allocated_blocks + s->bytes_in_available_blocks + s->bytes_in_unused_pools +
                      s->bytes_lost_to_pool_headers + s->bytes_lost_to_quantization +
                      s->bytes_lost_to_arena_alignment,
                  s->arenas_allocated_current * PHN_ARENA_SIZE);
    PHN_EXPECT_EQ(s->arenas_reclaimed, s->arenas_allocated_total - s->arenas_allocated_current);
    PHN_EXPECT_EQ(s->bytes_lost_to_arena_map_root, 262144);
    PHN_EXPECT_EQ(s->bytes_lost_to_arena_map_mid, s->arena_map_mid_nodes * 262144);
    PHN_EXPECT_EQ(s->bytes_lost_to_arena_map_bot, s->arena_map_bot_nodes * 131072);
    PHN_EXPECT_EQ(s->allocated_blocks, stats_blocks_in_use(s) + s->raw_allocated_blocks);
#undef PHN_EXPECT_EQ
    if (s->arenas_highwater < s->arenas_allocated_current) return "arenas_highwater < arenas_allocated_current";
    if (s->arenas_allocated_total < s->arenas_allocated_current) return "arenas_allocated_total < current";
    if (s->bytes_lost_to_arena_alignment % PHN_POOL_SIZE != 0) return "bytes_lost_to_arena_alignment not a pool multiple";
    if (s->bytes_lost_to_arena_alignment > s->arenas_allocated_current * PHN_POOL_SIZE)
        return "bytes_lost_to_arena_alignment > one pool per arena";
    if (s->unused_pools > s->arenas_allocated_current * PHN_MAX_POOLS_IN_ARENA) return "unused_pools too large";
    return NULL;
}

static inline PHN_TU int stats_consistent(const phn_stats* s) {
    const char* why = stats_inconsistency(s);
    if (why) fprintf(stderr, "\n  stats inconsistent: %s\n", why);
    return why == NULL;
}

/* ------------------------------------------------------------------ counting domain hook */

typedef struct counting_hook {
    phn_allocator prev;
    int32_t domain;
    long malloc_calls, calloc_calls, realloc_calls, free_calls, free_null_calls;
    size_t last_malloc_size, last_calloc_nelem, last_calloc_elsize, last_realloc_size;
    void* last_realloc_ptr;
    void* last_free_ptr;
    void* last_result;
} counting_hook;

#define HOOK_INC(f) __atomic_fetch_add(&(f), 1, __ATOMIC_RELAXED)
#define HOOK_GET(f) __atomic_load_n(&(f), __ATOMIC_RELAXED)

static PHN_TU void* PHN_CALL ch_malloc(void* ctx, size_t size) {
    counting_hook* h = (counting_hook*)ctx;
    HOOK_INC(h->malloc_calls);
    h->last_malloc_size = size;
    void* r = h->prev.malloc(h->prev.ctx, size);
    h->last_result = r;
    return r;
}
static PHN_TU void* PHN_CALL ch_calloc(void* ctx, size_t nelem, size_t elsize) {
    counting_hook* h = (counting_hook*)ctx;
    HOOK_INC(h->calloc_calls);
    h->last_calloc_nelem = nelem;
    h->last_calloc_elsize = elsize;
    void* r = h->prev.calloc(h->prev.ctx, nelem, elsize);
    h->last_result = r;
    return r;
}
static PHN_TU void* PHN_CALL ch_realloc(void* ctx, void* ptr, size_t size) {
    counting_hook* h = (counting_hook*)ctx;
    HOOK_INC(h->realloc_calls);
    h->last_realloc_ptr = ptr;
    h->last_realloc_size = size;
    void* r = h->prev.realloc(h->prev.ctx, ptr, size);
    h->last_result = r;
    return r;
}
static PHN_TU void PHN_CALL ch_free(void* ctx, void* ptr) {
    counting_hook* h = (counting_hook*)ctx;
    HOOK_INC(h->free_calls);
    if (ptr == NULL) HOOK_INC(h->free_null_calls);
    h->last_free_ptr = ptr;
    h->prev.free(h->prev.ctx, ptr);
}

/* Install a counting hook on a domain (wrapping the current allocator). 0 on success. */
static PHN_TU int hook_install(counting_hook* h, int32_t domain) {
    memset(h, 0, sizeof *h);
    h->domain = domain;
    if (phn_get_allocator(domain, &h->prev) != PHN_OK) return -1;
    phn_allocator a = {h, ch_malloc, ch_calloc, ch_realloc, ch_free};
    return phn_set_allocator(domain, &a) == PHN_OK ? 0 : -1;
}
static PHN_TU int hook_uninstall(counting_hook* h) {
    return phn_set_allocator(h->domain, &h->prev) == PHN_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ counting arena allocator */

enum { ARENA_FORWARD = 0, ARENA_ALIGNED = 1, ARENA_MISALIGNED = 2, ARENA_FAIL = 3 };
#define ARENA_REC_MAX 4096

typedef struct arena_rec {
    uintptr_t arena;  /* what alloc returned */
    void* raw;        /* what to give back to libc (ALIGNED / MISALIGNED) */
    int live;
} arena_rec;

typedef struct arena_counter {
    phn_arena_allocator prev;  /* the allocator forwarded to in ARENA_FORWARD mode */
    int mode;
    long alloc_calls, alloc_null, free_calls, bad_alloc_size, bad_free_size, unknown_free;
    size_t last_alloc_size, last_free_size;
    int nrec;
    arena_rec rec[ARENA_REC_MAX];
} arena_counter;

static PHN_TU void* PHN_CALL ac_alloc(void* ctx, size_t size) {
    arena_counter* a = (arena_counter*)ctx;
    a->alloc_calls++;
    a->last_alloc_size = size;
    if (size != PHN_ARENA_SIZE) a->bad_alloc_size++;
    void* raw = NULL;
    uintptr_t arena = 0;
    switch (a->mode) {
    case ARENA_FORWARD:
        arena = (uintptr_t)a->prev.alloc(a->prev.ctx, size);
        break;
    case ARENA_ALIGNED:
        if (posix_memalign(&raw, PHN_ARENA_SIZE, size) != 0) raw = NULL;
        arena = (uintptr_t)raw;
        break;
    case ARENA_MISALIGNED:
        /* page-aligned, but never PHN_POOL_SIZE-aligned */
        if (posix_memalign(&raw, PHN_POOL_SIZE, size + PHN_POOL_SIZE) != 0) raw = NULL;
        arena = raw ? (uintptr_t)raw + 4096 : 0;
        break;
    default:
        break;
    }
    if (arena == 0) {
        a->alloc_null++;
        return NULL;
    }
    if (a->nrec < ARENA_REC_MAX) {
        a->rec[a->nrec].arena = arena;
        a->rec[a->nrec].raw = raw;
        a->rec[a->nrec].live = 1;
        a->nrec++;
    }
    return (void*)arena;
}

static PHN_TU void PHN_CALL ac_free(void* ctx, void* ptr, size_t size) {
    arena_counter* a = (arena_counter*)ctx;
    a->free_calls++;
    a->last_free_size = size;
    if (size != PHN_ARENA_SIZE) a->bad_free_size++;
    int found = -1;
    for (int i = 0; i < a->nrec; i++)
        if (a->rec[i].live && a->rec[i].arena == (uintptr_t)ptr) { found = i; break; }
    if (found < 0) {
        a->unknown_free++;
        return;  /* not ours: leak rather than corrupt */
    }
    a->rec[found].live = 0;
    if (a->mode == ARENA_FORWARD || a->rec[found].raw == NULL)
        a->prev.free(a->prev.ctx, ptr, size);
    else
        free(a->rec[found].raw);
}

/* Prepare (not install) a counting arena allocator. prev = the current one. */
static PHN_TU int arena_counter_init(arena_counter* a, int mode) {
    memset(a, 0, sizeof *a);
    a->mode = mode;
    return phn_get_arena_allocator(&a->prev) == PHN_OK ? 0 : -1;
}
static PHN_TU int arena_counter_install(arena_counter* a) {
    phn_arena_allocator x = {a, ac_alloc, ac_free};
    return phn_set_arena_allocator(&x) == PHN_OK ? 0 : -1;
}
/* Index in a->rec of the live arena containing p, or -1. */
static PHN_TU int arena_index_of(const arena_counter* a, const void* p) {
    uintptr_t u = U(p);
    for (int i = 0; i < a->nrec; i++)
        if (a->rec[i].live && u >= a->rec[i].arena && u < a->rec[i].arena + PHN_ARENA_SIZE) return i;
    return -1;
}
static PHN_TU int arena_live_count(const arena_counter* a) {
    int n = 0;
    for (int i = 0; i < a->nrec; i++) n += a->rec[i].live;
    return n;
}

/* ------------------------------------------------------------------ child processes */

typedef struct child_result {
    int started;
    int exited, exit_code;
    int signaled, signo;
    char* out;
    size_t out_len;
    char* err;
    size_t err_len;
} child_result;

static PHN_TU void child_result_free(child_result* r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static PHN_TU void buf_append(char** buf, size_t* len, size_t* cap, const char* data, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        while (nc < *len + n + 1) nc *= 2;
        char* nb = (char*)realloc(*buf, nc);
        if (!nb) return;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static PHN_TU int env_name_matches(const char* entry, const char* spec) {
    size_t n = strcspn(spec, "=");
    return strncmp(entry, spec, n) == 0 && entry[n] == '=';
}

/* Run /proc/self/exe <mode> [arg] with the current environment minus every PYHEAPNATIVE_*
 * variable, plus env_set ("NAME=VALUE" entries, NULL-terminated list or NULL). */
static PHN_TU int run_self(const char* mode, const char* arg, const char* const* env_set, child_result* r) {
    memset(r, 0, sizeof *r);
    size_t nenv = 0, nset = 0;
    while (environ[nenv]) nenv++;
    if (env_set)
        while (env_set[nset]) nset++;
    char** envp = (char**)calloc(nenv + nset + 1, sizeof(char*));
    if (!envp) return -1;
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++) {
        if (strncmp(environ[i], "PYHEAPNATIVE_", 13) == 0) continue;
        int skip = 0;
        for (size_t j = 0; j < nset; j++)
            if (env_name_matches(environ[i], env_set[j])) skip = 1;
        if (!skip) envp[k++] = environ[i];
    }
    for (size_t j = 0; j < nset; j++)
        if (strchr(env_set[j], '=')) envp[k++] = (char*)env_set[j];
    envp[k] = NULL;
    char* argv[4] = {(char*)"/proc/self/exe", (char*)mode, (char*)arg, NULL};

    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0) { free(envp); return -1; }
    if (pipe2(pe, O_CLOEXEC) != 0) { close(po[0]); close(po[1]); free(envp); return -1; }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
        free(envp);
        return -1;
    }
    if (pid == 0) {
        /* async-signal-safe calls only */
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    free(envp);
    close(po[1]);
    close(pe[1]);
    size_t ocap = 0, ecap = 0;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    char tmp[8192];
    while (open_fds > 0) {
        int n = poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t got = read(fds[i].fd, tmp, sizeof tmp);
            if (got > 0) {
                if (i == 0) buf_append(&r->out, &r->out_len, &ocap, tmp, (size_t)got);
                else buf_append(&r->err, &r->err_len, &ecap, tmp, (size_t)got);
            } else if (got == 0 || (got < 0 && errno != EINTR)) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    r->started = 1;
    if (WIFEXITED(status)) { r->exited = 1; r->exit_code = WEXITSTATUS(status); }
    if (WIFSIGNALED(status)) { r->signaled = 1; r->signo = WTERMSIG(status); }
    if (!r->out) buf_append(&r->out, &r->out_len, &ocap, "", 0);
    if (!r->err) buf_append(&r->err, &r->err_len, &ecap, "", 0);
    return 0;
}

/* Copy a child's output to our stderr, each line prefixed (so that its summary line is not
 * mistaken for ours). */
static PHN_TU void echo_prefixed(const char* tag, const char* text) {
    const char* p = text;
    while (p && *p) {
        const char* nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(stderr, "    %s| %.*s\n", tag, (int)n, p);
        p = nl ? nl + 1 : p + n;
    }
}

static PHN_TU void describe_child(const child_result* r) {
    if (r->exited) fprintf(stderr, "(exit %d)", r->exit_code);
    else if (r->signaled) fprintf(stderr, "(signal %d)", r->signo);
    else fprintf(stderr, "(did not run)");
}

/* Find the last "N passed, N failed" line in text. */
static PHN_TU int parse_summary(const char* text, int* passed, int* nfailed) {
    int found = 0;
    const char* p = text;
    while (p && *p) {
        int a, b, n = 0;
        if (sscanf(p, "%d passed, %d failed%n", &a, &b, &n) == 2 && n > 0) {
            *passed = a;
            *nfailed = b;
            found = 1;
        }
        const char* nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    return found;
}

/* Run a child whose main runs CHECKs of its own and prints its summary; fold its counts into
 * ours and check that it exited 0 with a summary line. */
static PHN_TU void run_child_suite(const char* mode, const char* const* env_set) {
    child_result r;
    fprintf(stderr, "\n[child %s]\n", mode);
    int rc = run_self(mode, NULL, env_set, &r);
    if (r.err) echo_prefixed(mode, r.err);
    int cp = 0, cf = 0;
    int have = rc == 0 && parse_summary(r.out, &cp, &cf);
    ok += cp;
    failed += cf;
    CHECK_BODY(mode) {
        result = rc == 0 && r.exited && r.exit_code == 0 && have;
        if (!result) {
            fprintf(stderr, "\n  child %s did not finish cleanly ", mode);
            describe_child(&r);
            fprintf(stderr, "; stdout:\n");
            echo_prefixed(mode, r.out);
        }
    }
    child_result_free(&r);
}

/* ------------------------------------------------------------------ misc */

static PHN_TU long rss_bytes(void) {
    FILE* f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long size = 0, res = 0;
    int n = fscanf(f, "%ld %ld", &size, &res);
    fclose(f);
    if (n != 2) return -1;
    return res * sysconf(_SC_PAGESIZE);
}

static PHN_TU int contains_ci(const char* hay, const char* needle) {
    if (!hay || !needle) return 0;
    size_t n = strlen(needle);
    for (const char* p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && (p[i] | 0x20) == (needle[i] | 0x20)) i++;
        if (i == n) return 1;
    }
    return n == 0;
}

static PHN_TU int count_occurrences(const char* hay, const char* needle) {
    int n = 0;
    size_t len = strlen(needle);
    for (const char* p = hay ? strstr(hay, needle) : NULL; p; p = strstr(p + len, needle)) n++;
    return n;
}

/* ------------------------------------------------------------------ regular expressions */

/* 1 if the POSIX extended regular expression matches somewhere in text, 0 if not, -1 if it
 * does not compile (the error is printed). Without REG_NEWLINE, so '.' also matches '\n'
 * (like Python's re.DOTALL) and '^' / '$' anchor at the start / end of the whole text. */
static PHN_TU int regex_search(const char* pattern, const char* text) {
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, &re, msg, sizeof msg);
        fprintf(stderr, "\n  regcomp failed (%s) for: %s\n", msg, pattern);
        return -1;
    }
    rc = regexec(&re, text ? text : "", 0, NULL, 0);
    regfree(&re);
    return rc == 0 ? 1 : 0;
}

/* ------------------------------------------------------------------ capturing stderr */

/* Redirects file descriptor 2 (what the library writes its dumps to) to a temporary file
 * until stderr_capture_end, which returns what was written (malloc'd, NUL-terminated). */
typedef struct stderr_capture {
    int saved_fd;
    int file_fd;
} stderr_capture;

static PHN_TU int stderr_capture_begin(stderr_capture* c) {
    char path[] = "/tmp/phn-stderr-XXXXXX";
    fflush(stderr);
    c->saved_fd = -1;
    c->file_fd = mkstemp(path);
    if (c->file_fd < 0) return -1;
    unlink(path);
    c->saved_fd = dup(2);
    if (c->saved_fd < 0 || dup2(c->file_fd, 2) < 0) {
        close(c->file_fd);
        if (c->saved_fd >= 0) close(c->saved_fd);
        c->file_fd = c->saved_fd = -1;
        return -1;
    }
    return 0;
}

static PHN_TU char* stderr_capture_end(stderr_capture* c) {
    fflush(stderr);
    if (c->saved_fd >= 0) {
        dup2(c->saved_fd, 2);
        close(c->saved_fd);
    }
    char* text = NULL;
    size_t len = 0, cap = 0;
    if (c->file_fd >= 0) {
        char tmp[4096];
        off_t off = 0;
        ssize_t got;
        while ((got = pread(c->file_fd, tmp, sizeof tmp, off)) > 0) {
            buf_append(&text, &len, &cap, tmp, (size_t)got);
            off += got;
        }
        close(c->file_fd);
    }
    if (!text) buf_append(&text, &len, &cap, "", 0);
    c->file_fd = c->saved_fd = -1;
    return text;
}

/* The value of a "KEY=value" line of a child's output into buf ("MISSING-KEY" if none). */
static inline PHN_TU void child_value(const char* out, const char* key, char* buf, size_t cap) {
    size_t klen = strlen(key);
    snprintf(buf, cap, "MISSING-%s", key);
    for (const char* line = out; line && *line;) {
        const char* nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            size_t v = len - klen - 1;
            if (v >= cap) v = cap - 1;
            memcpy(buf, line + klen + 1, v);
            buf[v] = '\0';
        }
        line = nl ? nl + 1 : NULL;
    }
}

#endif /* PHN_TEST_COMMON_H */
