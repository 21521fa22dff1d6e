/* phn_heap_bias.c - claiming and revoking the bias of pymalloc's heaps (the protocol is
 * described in phn_fast.h; the managed side is Core/Pymalloc/HeapBias.cs). */
#include "phn_fast.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

PHN_IMPL heap_bias phn_heap_bias[ALL_HEAPS] __attribute__((aligned(64)));
PHN_IMPL int32_t phn_bias_enabled;
static int32_t revoke_lock;

PHN_IMPL __thread thread_heap phn_thread_heap PHN_INITIAL_EXEC;
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
    uint32_t plus_one = phn_thread_heap.heap_plus_one;
    if (plus_one != 0)
        return plus_one - 1;
    uint32_t start = __atomic_fetch_add(&next_heap, 1, __ATOMIC_RELAXED) % HEAP_COUNT;
    uint32_t heap = first_owned_by(start, phn_self());
    if (heap == HEAP_COUNT)
        heap = first_owned_by(start, 0);
    if (heap == HEAP_COUNT)
        heap = start;
    phn_thread_heap.heap_plus_one = heap + 1;
    return heap;
}

static inline char* class_lines_of(uint32_t heap) {
    return phn_fast_class_lines + (size_t)heap * NUM_SIZE_CLASSES * CLASS_LINE;
}

PHN_IMPL void phn_claim_own_heap(void) {
    uint64_t self = phn_self();
    uint32_t heap = phnimpl_own_heap();
    heap_bias* b = &phn_heap_bias[heap];
    if (__atomic_load_n(&b->owner, __ATOMIC_RELAXED) == 0 && phn_bias_enabled)
        phn_heap_try_claim(heap, self);
    if (__atomic_load_n(&b->owner, __ATOMIC_RELAXED) == self
        && __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == BIAS_BIASED) {
        phn_thread_heap.bias = b;
        phn_thread_heap.biased_lines = class_lines_of(heap);
    }
}

/* A heap whose bias the calling thread lost: the fast paths stop trying it. */
static inline void forget_revoked_bias(heap_bias* b) {
    if (phn_thread_heap.biased_lines != NULL && __atomic_load_n(&b->state, __ATOMIC_RELAXED) == BIAS_REVOKED
        && phn_thread_heap.bias == b)
        phn_thread_heap.biased_lines = NULL;
}

PHN_IMPL void* phn_pymalloc_alloc_shared(uint32_t idx) {
    uint32_t heap = phn_thread_heap.heap_plus_one - 1;
    if (heap >= HEAP_COUNT)
        return NULL;   /* the thread's first call: the slow path picks its heap */
    heap_bias* b = &phn_heap_bias[heap];
    forget_revoked_bias(b);
    int32_t* lock = (int32_t*)(class_lines_of(heap) + (size_t)idx * CLASS_LINE);
    if (!phn_class_lock(b, heap, lock, phn_self()))
        return NULL;
    void* bp = phn_take_block((char*)lock, idx);
    phn_unlock(lock);
    return bp;
}

PHN_IMPL int phn_pymalloc_free_shared(pool_header* pool, void* p) {
    uint32_t heap = pool->heap;
    heap_bias* b = &phn_heap_bias[heap];
    forget_revoked_bias(b);
    int32_t* lock = (int32_t*)(class_lines_of(heap) + (size_t)pool->szidx * CLASS_LINE);
    if (!phn_class_lock(b, heap, lock, phn_self()))
        return 0;
    if (heap == TRACED_HEAP) {
        trace_header* h = (trace_header*)p - 1;   /* the block starts at its header */
        if (h->traceback != 0) {
            /* A trace the tracer did not remove (looked at under the class lock, which a
             * track of the block holds too): the managed path forgets it. */
            phn_unlock(lock);
            return 0;
        }
        p = h;
    }
    int done = phn_return_block(pool, (char*)lock, p);
    phn_unlock(lock);
    return done;
}

PHN_IMPL void phn_pymalloc_free_slow(void* p) {
    if (!(phn_pymalloc_owns(p) && phn_pymalloc_free_shared(phn_pool_of(p), p)))
        phnimpl_pymalloc_free(p);
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
    char* lines = class_lines_of(heap);
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

PHN_IMPL int32_t* phn_revoke_lock_word(void) { return &revoke_lock; }

/* For the managed side (HeapBias.cs): where the states are. */
PHN_IMPL heap_bias* phnimpl_heap_bias_states(void) { return phn_heap_bias; }
