/* demo.c - PyHeapNative's main job in one run: allocate through the three domains, watch
 * pymalloc take arenas from the OS and give them back, and print the statistics in the
 * format of CPython's sys._debugmallocstats(). Built and run by `./build.sh demo`. */
#include <pyheapnative.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void) {
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

    int rc = phn_validate();
    printf("\nphn_validate: %s\n", rc == PHN_OK ? "heap consistent" : phn_last_error_message());
    return rc == PHN_OK ? 0 : 1;
}
