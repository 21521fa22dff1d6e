// phn_get_allocator / phn_set_allocator / phn_allocator_name: the domains' tables as C sees
// them. The built-in backends have C-callable tables (registered by the export layer at
// start-up), and so do the library's wrappers (debug hooks, tracing). Installing a table
// identical to one of those selects that backend and its direct path, which is how a saved
// table is restored.
//
// Installed tables are immutable native blocks that are never freed, so a call racing with
// phn_set_allocator sees a whole table (CPython accepts the same race and needs the
// caller's exclusion).
using PyHeapNative.Core.Os;
using PyHeapNative.Core.Pymalloc;
using PyHeapNative.Core.Raw;
using PyHeapNative.Core.Runtime;

namespace PyHeapNative.Core.Domains;

internal static unsafe class AllocatorRegistry
{
    internal const int Raw = 0, Mem = 1, Obj = 2;
    private const int MaxWrappers = 16;

    private static AllocatorTable s_builtinMalloc;     // CPython's _PyMem_RawMalloc family
    private static AllocatorTable s_builtinPymalloc;   // CPython's _PyObject_Malloc family
    private static readonly WrapperTable*[] s_wrappers = new WrapperTable*[MaxWrappers];
    private static int s_wrapperCount;
    private static HeapLock s_lock;                    // serialises get/set against each other

    internal static void RegisterBuiltins(in AllocatorTable malloc, in AllocatorTable pymalloc)
    {
        s_builtinMalloc = malloc;
        s_builtinPymalloc = pymalloc;
    }

    /// <summary>Makes a library wrapper's C table recognisable by phn_set_allocator.</summary>
    internal static void RegisterWrapper(WrapperTable* wrapper)
    {
        s_lock.Enter();
        try
        {
            for (int i = 0; i < s_wrapperCount; i++)
                if (s_wrappers[i] == wrapper)
                    return;
            if (s_wrapperCount < MaxWrappers)
                s_wrappers[s_wrapperCount++] = wrapper;
        }
        finally
        {
            s_lock.Exit();
        }
    }

    internal static bool IsValidDomain(int domain) => (uint)domain <= Obj;

    internal static ref DomainEntry EntryOf(int domain)
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
            return TableOf(EntryOf(domain), domain);
        }
        finally
        {
            s_lock.Exit();
        }
    }

    private static AllocatorTable TableOf(in DomainEntry entry, int domain) => entry.Kind switch
    {
        Backend.Custom or Backend.Wrapper => entry.Table->C,
        Backend.Pymalloc when domain != Raw => s_builtinPymalloc,
        _ => s_builtinMalloc,
    };

    /// <summary>Installs a complete table. Returns false when memory for the copy is lacking.</summary>
    internal static bool Set(int domain, in AllocatorTable table)
    {
        Backend kind;
        WrapperTable* copy = null;
        if (table.SameAs(s_builtinMalloc))
            kind = Backend.Malloc;
        else if (domain != Raw && table.SameAs(s_builtinPymalloc))
            kind = Backend.Pymalloc;
        else if ((copy = FindWrapper(table)) != null)
            kind = Backend.Wrapper;
        else
        {
            kind = Backend.Custom;
            copy = (WrapperTable*)Libc.Calloc(1, (nuint)sizeof(WrapperTable));
            if (copy == null)
                return false;
            copy->C = table;
        }
        Install(domain, kind, copy);
        return true;
    }

    /// <summary>Publishes an entry: the table before the kind that makes calls use it. A
    /// built-in kind leaves the old table in place for calls that already read the old kind.</summary>
    internal static void Install(int domain, Backend kind, WrapperTable* table)
    {
        s_lock.Enter();
        try
        {
            ref DomainEntry entry = ref EntryOf(domain);
            if (table != null)
                entry.Table = table;
            Thread.MemoryBarrier();
            entry.Kind = kind;
        }
        finally
        {
            s_lock.Exit();
        }
    }

    private static WrapperTable* FindWrapper(in AllocatorTable table)
    {
        for (int i = 0; i < s_wrapperCount; i++)
            if (s_wrappers[i]->C.SameAs(table))
                return s_wrappers[i];
        return null;
    }

    /// <summary>CPython's _PyMem_GetCurrentAllocatorName: "pymalloc", "malloc", or with the
    /// debug hooks over them "pymalloc_debug", "malloc_debug"; null for anything custom.</summary>
    internal static string? CurrentName()
    {
        bool debug = RawDomain.Entry.Kind == Backend.Wrapper;
        Backend raw = Unwrap(RawDomain.Entry, debug), mem = Unwrap(Domains.Mem, debug), obj = Unwrap(Domains.Obj, debug);
        if (raw is not (Backend.Malloc or Backend.Pymalloc) || mem != obj)
            return null;
        string? name = mem switch
        {
            Backend.Pymalloc => "pymalloc",
            Backend.Malloc => "malloc",
            _ => null,
        };
        return name != null && debug ? name + "_debug" : name;
    }

    /// <summary>The backend under the debug hooks when debug is expected, else the entry's own;
    /// Custom when the entry does not have the expected shape.</summary>
    private static Backend Unwrap(in DomainEntry entry, bool debug)
    {
        if (!debug)
            return entry.Kind == Backend.Wrapper ? Backend.Custom : entry.Kind;
        if (entry.Kind != Backend.Wrapper || entry.Table->Kind != WrapperKind.Debug)
            return Backend.Custom;
        Backend under = entry.Table->Wrapped->Kind;
        return under == Backend.Wrapper ? Backend.Custom : under;
    }

    /// <summary>True when OBJ is served by pymalloc, looking through the debug hooks
    /// (statistics are printed only then).</summary>
    internal static bool PymallocServesObj
    {
        get
        {
            DomainEntry obj = Domains.Obj;
            if (obj.Kind == Backend.Wrapper && obj.Table->Kind == WrapperKind.Debug)
                obj = *obj.Table->Wrapped;
            return obj.Kind == Backend.Pymalloc;
        }
    }

    // ---- the arena allocator -----------------------------------------------------------

    internal static ArenaAllocatorTable GetArenaAllocator() =>
        ArenaAllocator.Current != null ? *ArenaAllocator.Current : default;

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
