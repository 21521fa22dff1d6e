/* test_heap_bias.c - pymalloc's biased heaps (Native/phn_fast.h, Core/Pymalloc/HeapBias.cs):
 * a heap used by one thread is entered without its locks until another thread touches it,
 * which revokes the bias with a membarrier. These checks make revocations happen while the
 * owner is busy in its fast path, and check that nothing was lost: every block keeps its
 * contents, the counts come back, phn_validate() (which also checks that no heap is left
 * biased to another thread or busy while it holds every lock) stays 0. And threads alive at
 * the same time get heaps of their own (--own-heaps). */
#include "testhelper.h"
#include "phn_test_common.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RING = 4096, BLOCKS = 400000 };

/* A single-producer single-consumer ring of blocks. */
static void* volatile ring[RING];
static volatile size_t head, tail;
static volatile long bad_blocks;

static void fill(void* p, size_t n, unsigned seed) {
    unsigned char* b = p;
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(seed + i * 31u);
}

static int intact(const void* p, size_t n, unsigned seed) {
    const unsigned char* b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed + i * 31u)) return 0;
    return 1;
}

static size_t size_of_index(size_t i) { return 8 + (i * 37) % 500; }

/* Frees what the producer allocated: its frees are cross-thread (the producer's heap was
 * biased to the producer) and revoke the bias while the producer keeps allocating. */
static void* consumer(void* arg) {
    (void)arg;
    for (size_t i = 0; i < BLOCKS; i++) {
        while (__atomic_load_n(&tail, __ATOMIC_ACQUIRE) == i) sched_yield();
        void* p = ring[i % RING];
        if (!intact(p, size_of_index(i), (unsigned)i)) __atomic_fetch_add(&bad_blocks, 1, __ATOMIC_RELAXED);
        phn_obj_free(p);
        __atomic_store_n(&head, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* Several threads (more than the 4 heaps: some share one, and revoke it) doing their own
 * churn, plus frees of each other's blocks. */
enum { CHURNERS = 8, LIVE = 512, STEPS = 200000 };
static void* volatile exchange[CHURNERS];
static volatile long churn_bad;

static void* churner(void* arg) {
    uintptr_t id = (uintptr_t)arg;
    void* live[LIVE];
    size_t sizes[LIVE];
    uint64_t x = 0x9E3779B97F4A7C15ull * (id + 1);
    for (int i = 0; i < LIVE; i++) {
        sizes[i] = 1 + (size_t)(i * 13 % 512);
        live[i] = phn_mem_malloc(sizes[i]);
        fill(live[i], sizes[i], (unsigned)(uintptr_t)live[i]);
    }
    for (int s = 0; s < STEPS; s++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int j = (int)(x % LIVE);
        if (!intact(live[j], sizes[j], (unsigned)(uintptr_t)live[j])) __atomic_fetch_add(&churn_bad, 1, __ATOMIC_RELAXED);
        if ((x >> 32) % 16 == 0) {
            /* hand the block to the next thread (one it has not taken yet comes back to us),
             * then free the one the previous thread left for us: a block of its heap */
            void* back = __atomic_exchange_n(&exchange[(id + 1) % CHURNERS], live[j], __ATOMIC_ACQ_REL);
            if (back) phn_mem_free(back);
            void* mine = __atomic_exchange_n(&exchange[id], NULL, __ATOMIC_ACQ_REL);
            if (mine) {
                if (*(unsigned char*)mine != (unsigned char)(uintptr_t)mine) __atomic_fetch_add(&churn_bad, 1, __ATOMIC_RELAXED);
                phn_mem_free(mine);
            }
        } else {
            phn_mem_free(live[j]);
        }
        sizes[j] = 1 + (size_t)((x >> 40) % 512);
        live[j] = phn_mem_malloc(sizes[j]);
        fill(live[j], sizes[j], (unsigned)(uintptr_t)live[j]);
    }
    for (int i = 0; i < LIVE; i++) phn_mem_free(live[i]);
    return NULL;
}

/* --revoke-race (a child process, so that its heaps start unowned): the main thread owns its
 * heap and churns 32-byte blocks on it without pause, while 3 threads released together
 * each free blocks the owner allocated: they all need the heap at once, so some of them find
 * its revocation under way and must wait for it to finish (a thread that went in then would
 * share a class line with the still-busy owner). Prints RESULT=ok when every block kept its
 * contents and phn_validate() stayed 0. */
enum { RACE_LIVE = 2048, RACE_GIVEN = 256, RACE_HELPERS = 3 };
static void* race_given[RACE_HELPERS][RACE_GIVEN];
static volatile int race_go, race_done;
static volatile long race_bad;

static void* race_helper(void* arg) {
    void** mine = (void**)arg;
    while (!__atomic_load_n(&race_go, __ATOMIC_ACQUIRE)) { }
    for (int i = 0; i < RACE_GIVEN; i++) {
        if (!intact(mine[i], 32, (unsigned)(uintptr_t)mine[i])) __atomic_fetch_add(&race_bad, 1, __ATOMIC_RELAXED);
        phn_mem_free(mine[i]);
        void* q = phn_mem_malloc(32);   /* and some traffic of its own */
        fill(q, 32, 7);
        phn_mem_free(q);
    }
    __atomic_fetch_add(&race_done, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static int revoke_race_child(void) {
    static void* live[RACE_LIVE];
    for (int i = 0; i < RACE_LIVE; i++) {
        live[i] = phn_mem_malloc(32);
        fill(live[i], 32, (unsigned)(uintptr_t)live[i]);
    }
    for (int h = 0; h < RACE_HELPERS; h++)
        for (int i = 0; i < RACE_GIVEN; i++) {
            race_given[h][i] = phn_mem_malloc(32);
            fill(race_given[h][i], 32, (unsigned)(uintptr_t)race_given[h][i]);
        }
    pthread_t th[RACE_HELPERS];
    for (int h = 0; h < RACE_HELPERS; h++)
        if (pthread_create(&th[h], NULL, race_helper, race_given[h]) != 0) return 2;
    usleep(1000);
    __atomic_store_n(&race_go, 1, __ATOMIC_RELEASE);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    long steps = 0;
    while (__atomic_load_n(&race_done, __ATOMIC_ACQUIRE) < RACE_HELPERS || steps < 100000) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int j = (int)(x % RACE_LIVE);
        if (!intact(live[j], 32, (unsigned)(uintptr_t)live[j])) race_bad++;
        phn_mem_free(live[j]);
        live[j] = phn_mem_malloc(32);
        fill(live[j], 32, (unsigned)(uintptr_t)live[j]);
        steps++;
    }
    for (int h = 0; h < RACE_HELPERS; h++) pthread_join(th[h], NULL);
    for (int i = 0; i < RACE_LIVE; i++) {
        if (!intact(live[i], 32, (unsigned)(uintptr_t)live[i])) race_bad++;
        phn_mem_free(live[i]);
    }
    int v = phn_validate();
    printf("RESULT=%s bad=%ld validate=%d %s\n", race_bad == 0 && v == 0 ? "ok" : "broken", race_bad, v,
           v ? phn_last_error_message() : "");
    return 0;
}

/* --fork (a child process, also run with the debug hooks and with tracemalloc): 4 threads
 * churn on their heaps while the main thread forks 20 times; each forked process allocates and frees 20000 blocks of every size, including new
 * pools and arenas, and checks phn_validate(). Without the library's fork handlers a fork
 * taken while a thread is inside a class line leaves the forked process a lock or a busy
 * heap for ever (it would hang: alarm). Prints RESULT=ok when every forked process passed. */
static volatile int fork_running = 1;

static void* fork_churner(void* arg) {
    (void)arg;
    void* live[256] = {0};
    uint64_t x = (uint64_t)(uintptr_t)&live;
    while (__atomic_load_n(&fork_running, __ATOMIC_ACQUIRE)) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int j = (int)(x % 256);
        phn_mem_free(live[j]);
        live[j] = phn_mem_malloc(1 + (size_t)((x >> 20) % 700));
    }
    for (int i = 0; i < 256; i++) phn_mem_free(live[i]);
    return NULL;
}

static int fork_child(void) {
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        if (pthread_create(&th[i], NULL, fork_churner, NULL) != 0) return 2;
    int failures = 0;
    usleep(50000);   /* the threads are running (their first call attaches them to the runtime) */
    for (int k = 0; k < 20; k++) {
        usleep(2000);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10);
            static void* blocks[20000];
            for (int i = 0; i < 20000; i++) blocks[i] = phn_obj_malloc(1 + (size_t)(i * 37 % 1000));
            for (int i = 0; i < 20000; i += 2) phn_obj_free(blocks[i]);
            for (int i = 1; i < 20000; i += 2) phn_obj_free(blocks[i]);
            _exit(phn_validate() == 0 ? 0 : 1);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (failures++ == 0)
                fprintf(stderr, "forked process %d: %s %d\n", k, pid < 0 ? "fork failed" : WIFSIGNALED(status) ? "signal" : "exit",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    }
    __atomic_store_n(&fork_running, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    int v = phn_validate();
    printf("RESULT=%s failures=%d validate=%d\n", failures == 0 && v == 0 ? "ok" : "broken", failures, v);
    return 0;
}

/* ---- each thread its own heap --------------------------------------------------------
 * A heap's pools are its own: blocks of one size class allocated by threads of different
 * heaps never share a pool, by threads of one heap they do (the class's first used pool). */
enum { OWN_THREADS = 3, OWN_BLOCKS = 10 };
static pthread_barrier_t own_barrier;
static uintptr_t own_pools[OWN_THREADS + 1][OWN_BLOCKS];

static void own_allocate(int who) {
    for (int k = 0; k < OWN_BLOCKS; k++) {
        void* p = phn_obj_malloc(48);
        own_pools[who][k] = (uintptr_t)p & ~(uintptr_t)(PHN_POOL_SIZE - 1);
    }
}

static void* own_thread(void* arg) {
    own_allocate((int)(uintptr_t)arg);
    pthread_barrier_wait(&own_barrier);   /* alive until every thread has allocated */
    return NULL;
}

static int own_heaps_child(void) {
    own_allocate(0);
    pthread_barrier_init(&own_barrier, NULL, OWN_THREADS);
    pthread_t th[OWN_THREADS];
    int created = 0;
    for (uintptr_t i = 0; i < OWN_THREADS; i++)
        if (pthread_create(&th[i], NULL, own_thread, (void*)(i + 1)) == 0) created++;
    for (int i = 0; i < created; i++) pthread_join(th[i], NULL);
    CHECK_BODY("the main thread and 3 threads started after it (all alive at once) get 4 different heaps: "
               "their 48-byte blocks share no pool") {
        result = created == OWN_THREADS;
        for (int a = 0; a <= OWN_THREADS; a++)
            for (int b = a + 1; b <= OWN_THREADS; b++)
                for (int i = 0; i < OWN_BLOCKS; i++)
                    for (int j = 0; j < OWN_BLOCKS; j++)
                        if (own_pools[a][i] == own_pools[b][j]) result = false;
    }
    CHECK("phn_validate() == 0", phn_validate() == 0);
    return print_test_summary();
}

int main(int argc, char** argv) {
    alarm(240);
    if (argc > 1 && strcmp(argv[1], "--own-heaps") == 0) return own_heaps_child();
    if (argc > 1 && strcmp(argv[1], "--revoke-race") == 0) return revoke_race_child();
    if (argc > 1 && strcmp(argv[1], "--fork") == 0) return fork_child();
    run_child_suite("--own-heaps", NULL);
    phn_stats s0 = stats_now();

    CHECK_BODY("producer/consumer: 400000 blocks allocated by one thread and freed by another, contents intact") {
        pthread_t c;
        int created = pthread_create(&c, NULL, consumer, NULL) == 0;
        for (size_t i = 0; created && i < BLOCKS; i++) {
            while (i - __atomic_load_n(&head, __ATOMIC_ACQUIRE) >= RING) sched_yield();
            void* p = phn_obj_malloc(size_of_index(i));
            fill(p, size_of_index(i), (unsigned)i);
            ring[i % RING] = p;
            __atomic_store_n(&tail, i + 1, __ATOMIC_RELEASE);
            /* the producer's own churn between hand-overs, on its (biased, then revoked) heap */
            void* q = phn_obj_malloc(64);
            phn_obj_free(q);
        }
        if (created) pthread_join(c, NULL);
        result = created && bad_blocks == 0;
    }
    CHECK("phn_validate() == 0 after the producer/consumer run", phn_validate() == 0);

    CHECK_BODY("8 threads on 4 heaps, each churning 512 blocks and passing 1 in 16 to the next thread: contents intact") {
        pthread_t th[CHURNERS];
        int created = 0;
        for (uintptr_t i = 0; i < CHURNERS; i++)
            if (pthread_create(&th[i], NULL, churner, (void*)i) == 0) created++;
        /* meanwhile, the invariant checker from this thread takes every lock: it revokes
         * every heap biased to a churner */
        int validate_failures = 0;
        for (int k = 0; k < 20; k++) {
            if (phn_validate() != 0 && validate_failures++ == 0)
                fprintf(stderr, "\n  phn_validate: %s\n", phn_last_error_message());
            usleep(2000);
        }
        for (int i = 0; i < created; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < CHURNERS; i++) {
            void* left = __atomic_exchange_n(&exchange[i], NULL, __ATOMIC_ACQ_REL);
            if (left) phn_mem_free(left);
        }
        result = created == CHURNERS && churn_bad == 0 && validate_failures == 0;
        if (!result)
            fprintf(stderr, "\n  %d threads created, %ld damaged blocks, %d failed validations\n", created, churn_bad,
                    validate_failures);
    }

    CHECK_BODY("a thread that exits and a new one that hashes anywhere: allocation works, validate is 0") {
        pthread_t t;
        int ok_threads = 1;
        for (int k = 0; k < 16 && ok_threads; k++) {
            ok_threads = pthread_create(&t, NULL, churner, (void*)(uintptr_t)(k % CHURNERS)) == 0;
            if (ok_threads) pthread_join(t, NULL);
        }
        for (int i = 0; i < CHURNERS; i++) {
            void* left = __atomic_exchange_n(&exchange[i], NULL, __ATOMIC_ACQ_REL);
            if (left) phn_mem_free(left);
        }
        result = ok_threads && churn_bad == 0 && phn_validate() == 0;
    }

    CHECK_BODY("80 processes: 3 threads need a heap at once while its owner churns on it (one revocation, two waiting for it)") {
        int ok_runs = 0, runs = 80;
        for (int k = 0; k < runs; k++) {
            child_result r;
            int rc = run_self("--revoke-race", NULL, NULL, &r);
            if (rc == 0 && r.exited && r.exit_code == 0 && r.out && strstr(r.out, "RESULT=ok"))
                ok_runs++;
            else if (ok_runs == k) {   /* the first failure */
                fprintf(stderr, "\n  child %d: %s", k, r.out ? r.out : "(no output) ");
                describe_child(&r);
            }
            child_result_free(&r);
        }
        result = ok_runs == runs;
    }

    /* The same under the debug hooks (blocks over 488 bytes: the live-block registry's lock)
     * and under tracemalloc (its lock): without their place in the fork handlers, 4 to 11
     * forked processes of 20 hang. */
    static const char* const fork_env[][2] = {
        { NULL, NULL }, { "PYHEAPNATIVE_ALLOCATOR=debug", NULL }, { "PYHEAPNATIVE_TRACEMALLOC=1", NULL } };
    for (int e = 0; e < 3; e++) {
        char name[200];
        snprintf(name, sizeof name, "fork while 4 threads allocate%s%s: 20 forked processes allocate, free and validate "
                 "(the library's fork handlers)", fork_env[e][0] ? ", " : "", fork_env[e][0] ? fork_env[e][0] : "");
        CHECK_BODY(name) {
            child_result r;
            int rc = run_self("--fork", NULL, fork_env[e][0] ? fork_env[e] : NULL, &r);
            result = rc == 0 && r.exited && r.exit_code == 0 && r.out && strstr(r.out, "RESULT=ok");
            if (!result) {
                fprintf(stderr, "\n  %s", r.out ? r.out : "(no output) ");
                describe_child(&r);
            }
            child_result_free(&r);
        }
    }

    phn_stats s1 = stats_now();
    CHECK("phn_validate() == 0 at the end", phn_validate() == 0);
    CHECK_BODY("allocated_blocks back to its starting value") {
        result = s1.allocated_blocks == s0.allocated_blocks;
        if (!result)
            fprintf(stderr, "\n  allocated_blocks %llu -> %llu\n", (unsigned long long)s0.allocated_blocks,
                    (unsigned long long)s1.allocated_blocks);
    }
    return print_test_summary();
}
