// pymalloc's geometry: CPython 3.10+ on 64-bit (Objects/obmalloc.c, pycore_obmalloc.h).
//
//   ALIGNMENT 16 -> 32 size classes of 16..512 bytes; POOL_SIZE 16 KiB (48-byte header);
//   ARENA_SIZE 1 MiB = 64 pools (63 when the arena is not pool-aligned).
//
//   Request in bytes     Size of allocated block      Size class idx
//   ----------------------------------------------------------------
//          1-16                     16                       0
//         17-32                     32                       1
//         33-48                     48                       2
//          ...                     ...                     ...
//        497-512                   512                      31
//
// 0 bytes and more than 512 bytes go to the RAW domain.
namespace PyHeapNative.Core.Pymalloc;

internal static class Tunables
{
    internal const int AlignmentShift = 4;
    internal const int Alignment = 1 << AlignmentShift;                  // 16
    internal const int SmallRequestThreshold = 512;
    internal const int NumSizeClasses = SmallRequestThreshold / Alignment; // 32

    internal const int PoolBits = 14;
    internal const int PoolSize = 1 << PoolBits;                          // 16384
    internal const nuint PoolSizeMask = PoolSize - 1;
    internal const int PoolOverhead = 48;                                 // sizeof(PoolHeader), aligned

    internal const int ArenaBits = 20;
    internal const int ArenaSize = 1 << ArenaBits;                        // 1 MiB
    internal const nuint ArenaSizeMask = ArenaSize - 1;
    internal const int MaxPoolsInArena = ArenaSize / PoolSize;            // 64

    internal const int InitialArenaObjects = 16;
    internal const uint DummySizeIndex = 0xffff;                          // a freshly carved pool

    /// <summary>Block size of a class: INDEX2SIZE.</summary>
    internal static uint IndexToSize(uint index) => (index + 1) << AlignmentShift;

    /// <summary>Blocks in one pool of a class: NUMBLOCKS.</summary>
    internal static uint BlocksPerPool(uint index) => (PoolSize - PoolOverhead) / IndexToSize(index);
}
