// An open-addressing hash table in native memory keyed by (domain, address), with two
// pointer-sized values: linear probing, backward-shift deletion (no tombstones), grown at
// half load. Not synchronised: its owner holds a lock. Used for the debug hooks' live
// blocks and tracemalloc's traces.
using PyHeapNative.Core.Os;

namespace PyHeapNative.Core.Runtime;

internal unsafe struct AddressTable
{
    internal struct Entry
    {
        public nuint Address;   // 0: empty slot
        public uint Domain;
        public nuint Value;
        public nuint Extra;
    }

    private Entry* _slots;
    private nuint _capacity;   // 0 or a power of two
    private nuint _count;

    public readonly nuint Count => _count;
    public readonly nuint Capacity => _capacity;
    public readonly nuint MemoryBytes => _capacity * (nuint)sizeof(Entry);

    private static nuint Home(nuint address, uint domain, nuint mask) =>
        (nuint)(((ulong)address ^ ((ulong)domain << 47)) * 0x9E3779B97F4A7C15ul >> 17) & mask;

    /// <summary>The entry for (domain, address), or null.</summary>
    public readonly Entry* Find(uint domain, nuint address)
    {
        if (_capacity == 0 || address == 0)
            return null;
        nuint mask = _capacity - 1;
        for (nuint i = Home(address, domain, mask); _slots[i].Address != 0; i = (i + 1) & mask)
            if (_slots[i].Address == address && _slots[i].Domain == domain)
                return &_slots[i];
        return null;
    }

    /// <summary>Makes sure extra entries can be added without growing. False when out of memory.</summary>
    public bool Reserve(nuint extra) => (_count + extra) * 2 <= _capacity || Grow(_count + extra);

    /// <summary>Inserts or replaces; the previous entry's values come back through the outs.
    /// False when out of memory or for address 0, which marks empty slots (nothing changed).</summary>
    public bool Set(uint domain, nuint address, nuint value, nuint extra, out bool replaced, out Entry previous)
    {
        replaced = false;
        previous = default;
        if (address == 0 || !Reserve(1))
            return false;
        nuint mask = _capacity - 1;
        nuint i = Home(address, domain, mask);
        while (_slots[i].Address != 0)
        {
            if (_slots[i].Address == address && _slots[i].Domain == domain)
            {
                replaced = true;
                previous = _slots[i];
                break;
            }
            i = (i + 1) & mask;
        }
        if (!replaced)
            _count++;
        _slots[i] = new Entry { Address = address, Domain = domain, Value = value, Extra = extra };
        return true;
    }

    /// <summary>Removes (domain, address); its values come back through the out. False if absent.</summary>
    public bool Remove(uint domain, nuint address, out Entry removed)
    {
        removed = default;
        Entry* e = Find(domain, address);
        if (e == null)
            return false;
        removed = *e;
        nuint mask = _capacity - 1;
        nuint hole = (nuint)(e - _slots);
        for (nuint i = (hole + 1) & mask; _slots[i].Address != 0; i = (i + 1) & mask)
        {
            nuint home = Home(_slots[i].Address, _slots[i].Domain, mask);
            if (((i - home) & mask) >= ((i - hole) & mask))
            {
                _slots[hole] = _slots[i];
                hole = i;
            }
        }
        _slots[hole] = default;
        _count--;
        return true;
    }

    /// <summary>The slots, for a walk: an entry is live when its Address is not 0.</summary>
    public readonly Entry* Slots => _slots;

    public void Clear()
    {
        Libc.Free(_slots);
        this = default;
    }

    private bool Grow(nuint needed)
    {
        nuint capacity = _capacity == 0 ? 1024 : _capacity;
        while (needed * 2 > capacity)
            capacity *= 2;
        var slots = (Entry*)Libc.Calloc(capacity, (nuint)sizeof(Entry));
        if (slots == null)
            return false;
        Entry* old = _slots;
        nuint oldCapacity = _capacity;
        _slots = slots;
        _capacity = capacity;
        nuint mask = capacity - 1;
        for (nuint j = 0; j < oldCapacity; j++)
        {
            if (old[j].Address == 0)
                continue;
            nuint i = Home(old[j].Address, old[j].Domain, mask);
            while (_slots[i].Address != 0)
                i = (i + 1) & mask;
            _slots[i] = old[j];
        }
        Libc.Free(old);
        return true;
    }
}
