/* pyheapnative/phn_stats.h - pymalloc statistics and the heap checker.
 * Mirrored by src/PyHeapNative/Exports/StatsExports.cs (same order). */
#ifndef PYHEAPNATIVE_PHN_STATS_H
#define PYHEAPNATIVE_PHN_STATS_H

#include "phn_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* pymalloc's geometry (CPython 3.10+ on 64-bit). */
#define PHN_ALIGNMENT               16
#define PHN_SMALL_REQUEST_THRESHOLD 512
#define PHN_NB_SMALL_SIZE_CLASSES   32
#define PHN_POOL_SIZE               16384
#define PHN_POOL_OVERHEAD           48
#define PHN_ARENA_SIZE              1048576
#define PHN_MAX_POOLS_IN_ARENA      64

#define PHN_STATS_VERSION 1

/* One size class. Block size = (index + 1) * 16. */
typedef struct phn_size_class_stats {
    uint32_t block_size;
    uint32_t blocks_per_pool;   /* (PHN_POOL_SIZE - PHN_POOL_OVERHEAD) / block_size */
    uint64_t pools;             /* pools of this class with a block in use (used or full) */
    uint64_t full_pools;        /* of those, the pools with every block in use */
    uint64_t blocks_in_use;
    uint64_t blocks_available;  /* free blocks in those pools */
} phn_size_class_stats;

/* Size-prefixed: set struct_size = sizeof(phn_stats) before calling phn_get_stats; a larger
 * struct_size is accepted and the bytes past this version's struct are left alone.
 * On 64-bit: sizeof(phn_stats) == 1456, offsetof(size_classes) == 176,
 * sizeof(phn_size_class_stats) == 40. */
typedef struct phn_stats {
    uint32_t struct_size;
    uint32_t version;                        /* PHN_STATS_VERSION of the library */
    uint64_t arenas_allocated_total;         /* arenas ever allocated */
    uint64_t arenas_reclaimed;               /* arenas returned to the arena allocator */
    uint64_t arenas_highwater;               /* most arenas allocated at once */
    uint64_t arenas_allocated_current;       /* arenas allocated now */
    uint64_t arena_size;                     /* PHN_ARENA_SIZE */
    uint64_t pool_size;                      /* PHN_POOL_SIZE */
    uint64_t unused_pools;                   /* empty and never-carved pools of live arenas */
    /* The six byte counts below add up to arenas_allocated_current * arena_size. */
    uint64_t bytes_in_allocated_blocks;
    uint64_t bytes_in_available_blocks;
    uint64_t bytes_in_unused_pools;
    uint64_t bytes_lost_to_pool_headers;
    uint64_t bytes_lost_to_quantization;
    uint64_t bytes_lost_to_arena_alignment;
    uint64_t allocated_blocks;               /* live MEM/OBJ blocks, as sys.getallocatedblocks() */
    uint64_t raw_allocated_blocks;           /* of those, the ones pymalloc sent to RAW */
    uint64_t arena_map_mid_nodes;            /* radix tree nodes */
    uint64_t arena_map_bot_nodes;
    uint64_t bytes_lost_to_arena_map_root;
    uint64_t bytes_lost_to_arena_map_mid;
    uint64_t bytes_lost_to_arena_map_bot;
    uint32_t num_size_classes;               /* PHN_NB_SMALL_SIZE_CLASSES */
    uint32_t reserved;
    phn_size_class_stats size_classes[PHN_NB_SMALL_SIZE_CLASSES];
} phn_stats;

/* Fill *stats. struct_size smaller than the first version's size: PHN_EINVAL. */
PHN_API int32_t PHN_CALL phn_get_stats(phn_stats* stats);

/* Write the text of CPython's sys._debugmallocstats() (the pymalloc part) to buf,
 * NUL-terminated and truncated to cap - 1 bytes like snprintf, and return the length the
 * whole text needs (without the NUL). buf may be NULL when cap is 0. When the OBJ domain is
 * not served by pymalloc there is no text (CPython prints nothing): an empty string is
 * written (when cap > 0) and 0 returned. Negative PHN_E* on error. */
PHN_API int64_t PHN_CALL phn_format_malloc_stats(char* buf, size_t cap);

/* Walk every pymalloc structure (arena list order, free-pool counts, pool lists, free-block
 * lists, radix tree), then, with the GIL, the collector's lists (well-formed, live tracked
 * objects, no collection marks left) and gc.garbage, and check their invariants. 0 when they
 * hold; PHN_ECORRUPT with the first broken invariant in phn_last_error_message() otherwise.
 * Takes the heap lock and the GIL (skips the collector's part when called during a
 * collection). */
PHN_API int32_t PHN_CALL phn_validate(void);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAPNATIVE_PHN_STATS_H */
