// Interned byte strings in native memory: identical tracebacks and file names are stored
// once (CPython's tracemalloc interns both). A block is [hash][length][bytes]; the table is
// an open-addressing array of block pointers. Not synchronised: the tracer's lock guards it.
using System.Runtime.CompilerServices;
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Tracing;

internal unsafe struct InternTable
{
    internal struct Block
    {
        public uint Hash;
        public uint Length;
        // Length bytes follow (and a NUL, so a file name is a C string).
    }

    private Block** _slots;
    private nuint _capacity;
    private nuint _count;
    private nuint _bytes;

    public readonly nuint MemoryBytes => _capacity * (nuint)sizeof(Block*) + _bytes;

    internal static byte* Data(Block* b) => (byte*)(b + 1);

    internal static uint HashOf(byte* data, nuint length)
    {
        ulong h = 0x9E3779B97F4A7C15ul ^ length;
        nuint i = 0;
        for (; i + 8 <= length; i += 8)
            h = (h ^ Unsafe.ReadUnaligned<ulong>(data + i)) * 0xBF58476D1CE4E5B9ul;
        for (; i < length; i++)
            h = (h ^ data[i]) * 0x94D049BB133111EBul;
        return (uint)(h ^ (h >> 32));
    }

    /// <summary>The stored copy of the bytes, added if new; null when out of memory.</summary>
    public Block* Intern(byte* data, uint length)
    {
        if ((_count + 1) * 2 > _capacity && !Grow())
            return null;
        uint hash = HashOf(data, length);
        nuint mask = _capacity - 1;
        nuint i = hash & mask;
        for (; _slots[i] != null; i = (i + 1) & mask)
        {
            Block* b = _slots[i];
            if (b->Hash == hash && b->Length == length && new ReadOnlySpan<byte>(Data(b), (int)length).SequenceEqual(new ReadOnlySpan<byte>(data, (int)length)))
                return b;
        }
        nuint size = (nuint)sizeof(Block) + length + 1;
        var block = (Block*)Libc.Malloc(size);
        if (block == null)
            return null;
        block->Hash = hash;
        block->Length = length;
        Buffer.MemoryCopy(data, Data(block), length, length);
        Data(block)[length] = 0;
        _slots[i] = block;
        _count++;
        _bytes += size;
        return block;
    }

    public void Clear()
    {
        for (nuint i = 0; i < _capacity; i++)
            Libc.Free(_slots[i]);
        Libc.Free(_slots);
        this = default;
    }

    private bool Grow()
    {
        nuint capacity = _capacity == 0 ? 256 : _capacity * 2;
        var slots = (Block**)Libc.Calloc(capacity, (nuint)sizeof(Block*));
        if (slots == null)
            return false;
        nuint mask = capacity - 1;
        for (nuint j = 0; j < _capacity; j++)
        {
            Block* b = _slots[j];
            if (b == null)
                continue;
            nuint i = b->Hash & mask;
            while (slots[i] != null)
                i = (i + 1) & mask;
            slots[i] = b;
        }
        Libc.Free(_slots);
        _slots = slots;
        _capacity = capacity;
        return true;
    }
}
