// phn_get_allocator / phn_set_allocator / phn_allocator_name: the domains' tables as C sees
// them. The built-in backends have C-callable tables (registered by the export layer at
// start-up); installing a table identical to a built-in one selects that built-in backend and
// its direct fast path, which is how a saved table is restored.
//
// Installed custom tables are copied to immutable native blocks that are never freed, so a
// call racing with phn_set_allocator always sees a whole table (CPython accepts the same
// race; it needs the caller's exclusion).
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Domains;

internal static unsafe class AllocatorRegistry
{
    internal const int Raw = 0, Mem = 1, Obj = 2;

    private static AllocatorTable s_builtinMalloc;     // CPython's _PyMem_RawMalloc family
    private static AllocatorTable s_builtinPymalloc;   // CPython's _PyObject_Malloc family
    private static HeapLock s_lock;                    // serialises get/set against each other

    internal static void RegisterBuiltins(in AllocatorTable malloc, in AllocatorTable pymalloc)
    {
        s_builtinMalloc = malloc;
        s_builtinPymalloc = pymalloc;
    }

    internal static bool IsValidDomain(int domain) => (uint)domain <= Obj;

    private static ref DomainEntry EntryOf(int domain)
    {
        if (domain == Raw)
            return ref RawDomain.Entry;
        if (domain == Mem)
            return ref Domains.Mem;
        return ref Domains.Obj;
    }

    internal static AllocatorTable Get(int domain)
    {
        s_lock.Enter();
        try
        {
            DomainEntry entry = EntryOf(domain);
            if (domain == Raw)
                return entry.Kind == Backend.Custom ? *entry.Custom : s_builtinMalloc;
            return entry.Kind switch
            {
                Backend.Pymalloc => s_builtinPymalloc,
                Backend.Malloc => s_builtinMalloc,
                _ => *entry.Custom,
            };
        }
        finally
        {
            s_lock.Exit();
        }
    }

    /// <summary>Installs a complete table. Returns false when memory for the copy is lacking.</summary>
    internal static bool Set(int domain, in AllocatorTable table)
    {
        Backend kind;
        AllocatorTable* copy = null;
        if (table.SameAs(s_builtinMalloc))
            kind = Backend.Malloc;
        else if (domain != Raw && table.SameAs(s_builtinPymalloc))
            kind = Backend.Pymalloc;
        else
        {
            kind = Backend.Custom;
            copy = (AllocatorTable*)Libc.Malloc((nuint)sizeof(AllocatorTable));
            if (copy == null)
                return false;
            *copy = table;
        }

        s_lock.Enter();
        try
        {
            // The table before the kind that makes calls use it; a built-in kind leaves the
            // old table in place for calls that already read the old kind.
            ref DomainEntry entry = ref EntryOf(domain);
            if (copy != null)
                entry.Custom = copy;
            Thread.MemoryBarrier();
            entry.Kind = kind;
        }
        finally
        {
            s_lock.Exit();
        }
        return true;
    }

    /// <summary>"pymalloc" or "malloc" when all three domains hold that configuration's
    /// built-in backends, null otherwise (CPython's _PyMem_GetCurrentAllocatorName).</summary>
    internal static string? CurrentName()
    {
        if (RawDomain.Entry.Kind == Backend.Custom || Domains.Mem.Kind != Domains.Obj.Kind)
            return null;
        return Domains.Mem.Kind switch
        {
            Backend.Pymalloc => "pymalloc",
            Backend.Malloc => "malloc",
            _ => null,
        };
    }

    /// <summary>True when OBJ is served by pymalloc (statistics are printed only then).</summary>
    internal static bool PymallocServesObj => Domains.Obj.Kind == Backend.Pymalloc;

    // ---- the arena allocator -----------------------------------------------------------

    internal static ArenaAllocatorTable GetArenaAllocator() => *ArenaAllocator.Current;

    internal static bool SetArenaAllocator(in ArenaAllocatorTable table)
    {
        ArenaAllocatorTable* builtin = ArenaAllocator.Builtin;
        if (table.Context == builtin->Context && table.Alloc == builtin->Alloc && table.Free == builtin->Free)
        {
            ArenaAllocator.Install(builtin);
            return true;
        }
        var copy = (ArenaAllocatorTable*)Libc.Malloc((nuint)sizeof(ArenaAllocatorTable));
        if (copy == null)
            return false;
        *copy = table;
        ArenaAllocator.Install(copy);
        return true;
    }
}
