/* phn_heap_bias.c - claiming and revoking the bias of pymalloc's heaps (the protocol is
 * described in phn_fast.h; the managed side is Core/Pymalloc/HeapBias.cs). */
#include "phn_fast.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

PHN_IMPL heap_bias phn_heap_bias[HEAP_COUNT] __attribute__((aligned(64)));
PHN_IMPL int32_t phn_bias_enabled;
static int32_t revoke_lock;

PHN_IMPL __thread uint32_t phn_heap_plus_one PHN_INITIAL_EXEC;
static uint32_t next_heap;

/* From heap start on, the first heap whose owner is owner (0: nobody), or HEAP_COUNT. */
static uint32_t first_owned_by(uint32_t start, uint64_t owner) {
    for (uint32_t k = 0; k < HEAP_COUNT; k++) {
        uint32_t h = (start + k) % HEAP_COUNT;
        if (__atomic_load_n(&phn_heap_bias[h].owner, __ATOMIC_RELAXED) == owner)
            return h;
    }
    return HEAP_COUNT;
}

/* The calling thread's heap, picked on its first call: a heap biased to this very identity (a
 * thread that exited left it, and this one got its stack), else from the next heap in turn
 * the first that nobody owns, else the next in turn, shared. Threads created one after
 * another thus get heaps of their own. */
PHN_IMPL uint32_t phnimpl_own_heap(void) {
    uint32_t plus_one = phn_heap_plus_one;
    if (plus_one != 0)
        return plus_one - 1;
    uint32_t start = __atomic_fetch_add(&next_heap, 1, __ATOMIC_RELAXED) % HEAP_COUNT;
    uint32_t heap = first_owned_by(start, phn_self());
    if (heap == HEAP_COUNT)
        heap = first_owned_by(start, 0);
    if (heap == HEAP_COUNT)
        heap = start;
    phn_heap_plus_one = heap + 1;
    return heap;
}

static int membarrier(int cmd) { return (int)syscall(__NR_membarrier, cmd, 0, 0); }

/* Heaps are biased only when the expedited private membarrier works (Linux 4.14+). */
PHN_IMPL void phn_heap_bias_configure(void) {
    int supported = membarrier(MEMBARRIER_CMD_QUERY);
    if (supported > 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED)
        && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
        __atomic_store_n(&phn_bias_enabled, 1, __ATOMIC_RELEASE);
}

/* Claims the calling thread's own heap when nobody owns it: with all 32 of its class locks
 * held, so that no other thread is inside one of its lines. Gives up on any contention. */
PHN_IMPL void phn_heap_try_claim(uint32_t heap, uint64_t self) {
    char* lines = phn_fast_class_lines + (size_t)heap * NUM_SIZE_CLASSES * CLASS_LINE;
    int taken = 0;
    while (taken < NUM_SIZE_CLASSES && phn_try_lock((int32_t*)(lines + (size_t)taken * CLASS_LINE)))
        taken++;
    if (taken == NUM_SIZE_CLASSES && __atomic_load_n(&phn_heap_bias[heap].owner, __ATOMIC_RELAXED) == 0)
        __atomic_store_n(&phn_heap_bias[heap].owner, self, __ATOMIC_RELEASE);
    while (taken > 0)
        phn_unlock((int32_t*)(lines + (size_t)--taken * CLASS_LINE));
}

/* Revokes the bias of a heap for good and waits until its owner has left the line it may
 * be in; returns only when the heap is REVOKED (a revocation under way on another thread is
 * waited for). Called without the heap's class locks (the owner never waits for anything
 * while busy, so holding other locks is fine). */
PHN_IMPL void phnimpl_heap_revoke(uint32_t heap) {
    if (heap >= HEAP_COUNT)
        return;
    heap_bias* b = &phn_heap_bias[heap];
    if (__atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == BIAS_REVOKED)
        return;
    phn_lock_yielding(&revoke_lock);
    if (__atomic_load_n(&b->state, __ATOMIC_RELAXED) != BIAS_REVOKED) {
        __atomic_store_n(&b->state, BIAS_REVOKING, __ATOMIC_SEQ_CST);
        if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
            /* Not registered in this process (cannot happen after a successful configure,
             * the registration survives fork): register, else the global barrier. */
            if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0
                || membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
                membarrier(MEMBARRIER_CMD_GLOBAL);
        }
        while (__atomic_load_n(&b->busy, __ATOMIC_ACQUIRE))
            sched_yield();
        __atomic_store_n(&b->state, BIAS_REVOKED, __ATOMIC_RELEASE);
    }
    phn_unlock(&revoke_lock);
}

/* For the managed side (HeapBias.cs): where the states are. */
PHN_IMPL heap_bias* phnimpl_heap_bias_states(void) { return phn_heap_bias; }
