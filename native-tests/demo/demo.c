/* demo.c - PyHeapNative's main job in one run: allocate through the three domains, watch
 * pymalloc take arenas from the OS and give them back, print the statistics in the format
 * of CPython's sys._debugmallocstats(), collect a cycle of reference-counted objects with
 * the cyclic garbage collector, show a tracemalloc top 5 and catch a buffer overflow.
 * Built and run by `./build.sh demo`. */
#include <pyheapnative.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long resident_kib(void) {
    long pages = 0, resident = 0;
    FILE* f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident * 4;
}

static phn_stats stats_now(void) {
    phn_stats s;
    s.struct_size = sizeof s;
    if (phn_get_stats(&s) != PHN_OK) {
        fprintf(stderr, "phn_get_stats: %s\n", phn_last_error_message());
        exit(1);
    }
    return s;
}

static void print_malloc_stats(void) {
    int64_t need = phn_format_malloc_stats(NULL, 0);
    char* text = malloc((size_t)need + 1);
    if (text == NULL || phn_format_malloc_stats(text, (size_t)need + 1) != need) {
        fprintf(stderr, "phn_format_malloc_stats failed: %s\n", phn_last_error_message());
        exit(1);
    }
    fputs(text, stdout);
    free(text);
}

/* ---- tracemalloc: who allocated what ---------------------------------------------------- */

typedef struct node { struct node* next; char payload[48]; } node;

/* Not static: with -rdynamic their names are in the dynamic symbol table, so tracemalloc can
 * name them. */
node* build_list(int n);
char* make_buffer(size_t n);
char* make_string(const char* text);

__attribute__((noinline)) node* build_list(int n) {
    node* head = NULL;
    for (int i = 0; i < n; i++) {
        node* x = phn_obj_malloc(sizeof(node));
        x->next = head;
        head = x;
    }
    return head;
}

__attribute__((noinline)) char* make_buffer(size_t n) { return phn_mem_malloc(n); }

__attribute__((noinline)) char* make_string(const char* text) {
    char* s = phn_raw_malloc(strlen(text) + 1);
    strcpy(s, text);
    return s;
}

static void show_tracemalloc_top5(void) {
    phn_tracemalloc_start(1);
    node* list = build_list(2000);
    char* buffers[20];
    for (int i = 0; i < 20; i++) buffers[i] = make_buffer(4096);
    char* strings[300];
    for (int i = 0; i < 300; i++) strings[i] = make_string("a string kept for a while");

    phn_snapshot* snapshot;
    phn_statistics* top;
    if (phn_tracemalloc_take_snapshot(&snapshot) != PHN_OK ||
        phn_snapshot_statistics(snapshot, PHN_KEY_LINENO, 0, &top) != PHN_OK) {
        fprintf(stderr, "tracemalloc: %s\n", phn_last_error_message());
        exit(1);
    }
    size_t current, peak;
    phn_tracemalloc_get_traced_memory(&current, &peak);
    printf("tracemalloc: %zu bytes traced; top 5 by line (\"file:function\", offset as the line):\n", current);
    for (int64_t i = 0; i < phn_statistics_count(top) && i < 5; i++) {
        phn_statistic st;
        phn_statistics_get(top, i, &st);
        printf("  #%lld %s:%u: size=%llu B, count=%llu, average=%llu B\n", (long long)i + 1,
               st.frames[0].filename, st.frames[0].lineno, (unsigned long long)st.size,
               (unsigned long long)st.count, (unsigned long long)(st.size / st.count));
    }
    printf("\n");
    phn_statistics_free(top);
    phn_snapshot_free(snapshot);
    phn_tracemalloc_stop();

    while (list) { node* next = list->next; phn_obj_free(list); list = next; }
    for (int i = 0; i < 20; i++) phn_mem_free(buffers[i]);
    for (int i = 0; i < 300; i++) phn_raw_free(strings[i]);
}

/* ---- the debug hooks catch a buffer overflow (in a child running with
 *      PYHEAPNATIVE_ALLOCATOR=debug, whose fatal handler reports and returns) ------------ */

/* A node described by its reference layout: the collector traverses, clears and frees it
 * with no callback. */
typedef struct Node {
    phn_object ob;
    phn_object* next;
    phn_object* other;
    int64_t value;
} Node;

static int weakref_callbacks;
static int32_t PHN_CALL on_node_death(void* ctx, phn_object* weakref) {
    (void)ctx;
    (void)weakref;
    weakref_callbacks++;
    return 0;
}

static void print_gc_stats(const char* when) {
    printf("  phn_gc_get_stats %s\n", when);
    for (int32_t g = 0; g < PHN_GC_NUM_GENERATIONS; g++) {
        phn_gc_stats s;
        memset(&s, 0, sizeof s);
        s.struct_size = (uint32_t)sizeof s;
        phn_gc_get_stats(g, &s);
        printf("    generation %d: %lld collections, %lld collected, %lld uncollectable\n", (int)g,
               (long long)s.collections, (long long)s.collected, (long long)s.uncollectable);
    }
}

static void show_collected_cycle(void) {
    static const uint32_t refs[] = { offsetof(Node, next), offsetof(Node, other) };
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = (uint32_t)sizeof spec;
    spec.name = "Node";
    spec.flags = PHN_TPFLAGS_HAVE_GC | PHN_TPFLAGS_WEAKREFABLE;
    spec.basicsize = (int64_t)sizeof(Node);
    spec.ref_offsets = refs;
    spec.ref_count = 2;
    phn_type* node_type = phn_type_new(&spec);

    printf("Reference counting and the cyclic garbage collector:\n");
    phn_gc_disable();   /* no automatic collection while we build */
    phn_gc_collect(2);
    print_gc_stats("before:");

    /* A ring of 1000 nodes, and a weak reference with a callback to one of them. */
    enum { RING = 1000 };
    Node* first = (Node*)phn_object_new(node_type);
    Node* last = first;
    for (int i = 1; i < RING; i++) {
        Node* n = (Node*)phn_object_new(node_type);
        n->value = i;
        last->next = (phn_object*)n;   /* the reference from phn_object_new moves into the ring */
        last = n;
    }
    last->next = phn_new_ref((phn_object*)first);
    phn_object* weak = phn_weakref_new((phn_object*)first, on_node_death, NULL);
    int32_t count[3];
    phn_gc_get_count(count);
    printf("  built a ring of %d nodes: refcount of the first = %ld, gc count = (%d, %d, %d)\n", RING,
           (long)PHN_REFCNT(first), count[0], count[1], count[2]);

    /* Dropping our reference leaves the ring alive: only the collector can free it. */
    PHN_DECREF(first);
    phn_object* alive = NULL;
    printf("  after PHN_DECREF(first): the weak reference still resolves: %s\n",
           phn_weakref_get_ref(weak, &alive) == 1 ? "yes" : "no");
    PHN_XDECREF(alive);
    int64_t found = phn_gc_collect(2);
    printf("  phn_gc_collect(2) = %lld unreachable objects; weak reference callbacks: %d; dead: %s\n",
           (long long)found, weakref_callbacks, phn_weakref_get_ref(weak, &alive) == 0 ? "yes" : "no");
    print_gc_stats("after:");
    PHN_DECREF(weak);
    phn_gc_enable();
    printf("\n");
}

static void report_fatal(void* ctx, const char* message) {
    (void)ctx;
    printf("caught by the debug hooks: %s\n", message);
    fflush(stdout);
}

static int overflow_child(void) {
    phn_set_fatal_handler(report_fatal, NULL);
    printf("allocator \"%s\": writing one byte past a 16-byte block, then freeing it\n", phn_allocator_name());
    fflush(stdout);
    char* p = phn_mem_malloc(16);
    volatile size_t past_the_end = 16;   /* (volatile: gcc would warn at the write it can see) */
    p[past_the_end] = 'x';               /* the overflow */
    phn_mem_free(p);      /* detected: dump on stderr, then the fatal handler */
    return 0;
}

static void show_caught_overflow(const char* self) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("PYHEAPNATIVE_ALLOCATOR", "debug", 1);
        dup2(1, 2);       /* the dump goes to stderr: show it in line */
        execl(self, self, "--overflow", (char*)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("\n");
}

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "--overflow") == 0)
        return overflow_child();
    if (phn_init() != PHN_OK) {
        fprintf(stderr, "phn_init: %s\n", phn_last_error_message());
        return 1;
    }
    printf("PyHeapNative %u.%u.%u, allocator \"%s\"\n\n", phn_version() / 10000, phn_version() / 100 % 100,
           phn_version() % 100, phn_allocator_name() ? phn_allocator_name() : "(custom)");

    /* 1. The three domains. */
    char* raw = phn_raw_malloc(100);
    char* mem = phn_mem_calloc(10, 4);
    char* obj = phn_obj_malloc(17);
    char* obj2 = phn_obj_malloc(17);
    char* big = phn_obj_malloc(4096);
    strcpy(raw, "raw");
    printf("RAW  malloc(100)  -> %p (C malloc)\n", (void*)raw);
    printf("MEM  calloc(10,4) -> %p (pymalloc, 48-byte class, zeroed: %s)\n", (void*)mem,
           mem[0] == 0 && mem[39] == 0 ? "yes" : "no");
    printf("OBJ  malloc(17)   -> %p and %p: %td bytes apart (32-byte class)\n", (void*)obj, (void*)obj2, obj2 - obj);
    printf("OBJ  malloc(4096) -> %p (over 512 bytes: served by RAW)\n", (void*)big);
    obj = phn_obj_realloc(obj, 20);
    printf("OBJ  realloc(p, 20) keeps the block: %p\n\n", (void*)obj);
    phn_raw_free(raw);
    phn_mem_free(mem);
    phn_obj_free(obj);
    phn_obj_free(obj2);
    phn_obj_free(big);

    /* 2. Arenas come from the OS and go back to it. */
    enum { N = 400000 };
    void** blocks = malloc(N * sizeof(void*));
    phn_stats before = stats_now();
    long rss_before = resident_kib();
    for (int i = 0; i < N; i++) {
        blocks[i] = phn_obj_malloc(64);
        memset(blocks[i], 0xab, 64);
    }
    phn_stats full = stats_now();
    long rss_full = resident_kib();
    for (int i = 0; i < N; i++)
        phn_obj_free(blocks[i]);
    phn_stats after = stats_now();
    long rss_after = resident_kib();
    free(blocks);
    printf("%d blocks of 64 bytes:\n", N);
    printf("  arenas allocated: %llu before, %llu while filled, %llu after freeing (%llu returned to the OS, one empty arena kept)\n",
           (unsigned long long)before.arenas_allocated_current, (unsigned long long)full.arenas_allocated_current,
           (unsigned long long)after.arenas_allocated_current,
           (unsigned long long)(after.arenas_reclaimed - before.arenas_reclaimed));
    printf("  resident memory:  %ld KiB before, %ld KiB filled, %ld KiB after freeing\n\n", rss_before, rss_full, rss_after);

    /* 3. The statistics, as sys._debugmallocstats() prints them. */
    char* keep[3] = { phn_obj_malloc(16), phn_mem_malloc(200), phn_obj_malloc(512) };
    print_malloc_stats();
    for (int i = 0; i < 3; i++)
        phn_obj_free(keep[i]);

    /* 4. Objects and the cyclic collector. */
    show_collected_cycle();

    /* 5. tracemalloc and 6. the debug hooks. */
    show_tracemalloc_top5();
    show_caught_overflow("/proc/self/exe");

    int rc = phn_validate();
    printf("\nphn_validate: %s\n", rc == PHN_OK ? "heap consistent" : phn_last_error_message());
    return rc == PHN_OK ? 0 : 1;
}
