/* phn_fork.c - the allocator across fork(). As glibc's malloc does, the library takes its
 * allocation locks just before a fork and gives them back just after it, in the parent and in
 * the child: a child never starts with a lock held, or a heap marked busy, by a thread it does
 * not have. The locks, in this order (the library's own order):
 *   tracemalloc's lock (held around its tables, and with it the class locks of the traced
 *     heap and the arena lock: Core/Pymalloc/TracedHeap.cs), then the debug hooks'
 *     live-block registry's (held only around its table);
 *   every class lock, class lines by index (a heap biased to another thread is revoked first:
 *     that thread will not exist in the child; the forking thread's own heap keeps its bias,
 *     the child's only thread has the same identity);
 *   the revocations' lock, so that no revocation is half done in the child (a heap left
 *     REVOKING, and the lock held, for good); a revoker holds it only while it waits for an
 *     owner to leave its line, never together with a class lock or the arena lock;
 *   the arena lock (taken after a class lock, never before one).
 * Not covered: the GIL, and the .NET runtime's own state. */
#include "phn_fast.h"

static int32_t* arena_lock;         /* Pymalloc.ArenaLock */
static int32_t* held_trace_lock;    /* what before_fork took, for after_fork */
static int32_t* held_live_lock;

static void before_fork(void) {
    if (phn_fast_class_lines == NULL)
        return;
    held_trace_lock = phn_trace_lock_word();
    if (held_trace_lock != NULL)
        phn_lock_yielding(held_trace_lock);
    held_live_lock = phn_live_blocks_lock_word();
    if (held_live_lock != NULL)
        phn_lock_yielding(held_live_lock);
    uint64_t self = phn_self();
    for (uint32_t heap = 0; heap < ALL_HEAPS; heap++) {
        char* lines = phn_fast_class_lines + (size_t)heap * NUM_SIZE_CLASSES * CLASS_LINE;
        heap_bias* b = &phn_heap_bias[heap];
        for (;;) {
            uint64_t owner = __atomic_load_n(&b->owner, __ATOMIC_ACQUIRE);
            if (owner != 0 && owner != self && __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) != BIAS_REVOKED)
                phnimpl_heap_revoke(heap);
            for (uint32_t c = 0; c < NUM_SIZE_CLASSES; c++)
                phn_lock_yielding((int32_t*)(lines + (size_t)c * CLASS_LINE));
            /* With all 32 locks held nobody can claim the heap; check it was not claimed by
             * another thread in between. */
            owner = __atomic_load_n(&b->owner, __ATOMIC_ACQUIRE);
            if (owner == 0 || owner == self || __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == BIAS_REVOKED)
                break;
            for (uint32_t c = NUM_SIZE_CLASSES; c-- > 0;)
                phn_unlock((int32_t*)(lines + (size_t)c * CLASS_LINE));
        }
    }
    phn_lock_yielding(phn_revoke_lock_word());
    phn_lock_yielding(arena_lock);
}

static void after_fork(void) {
    if (phn_fast_class_lines == NULL)
        return;
    phn_unlock(arena_lock);
    phn_unlock(phn_revoke_lock_word());
    for (uint32_t list = ALL_HEAPS * NUM_SIZE_CLASSES; list-- > 0;)
        phn_unlock((int32_t*)(phn_fast_class_lines + (size_t)list * CLASS_LINE));
    if (held_live_lock != NULL)
        phn_unlock(held_live_lock);
    if (held_trace_lock != NULL)
        phn_unlock(held_trace_lock);
}

/* Once, from phnimpl_fast_configure. */
PHN_IMPL void phn_fork_configure(int32_t* pymalloc_arena_lock) {
    arena_lock = pymalloc_arena_lock;
    pthread_atfork(before_fork, after_fork, after_fork);
}
