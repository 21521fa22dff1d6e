// PyHeapBlock.cs - an owned block of one allocator domain (a SafeHandle whose release is the
// domain's free), and HandleLease, the AddRef/Release pair every SafeHandle method uses.
using System.Runtime.InteropServices;

namespace PyHeapNative.Interop;

/// <summary>
/// A block of one allocator domain that the caller owns: disposing it (or, if it is never
/// disposed, finalizing it) frees it with the domain that allocated it. Created by
/// <see cref="PyHeapDomain.Allocate"/>.
/// </summary>
/// <remarks>
/// The RAW, MEM and OBJ domains are thread-safe and need no lock, so a block may be released
/// from any thread, the finalizer thread included. <see cref="Resize"/> moves the block and
/// must not race with other uses of it.
/// </remarks>
/// <example><code>
/// using PyHeapBlock block = PyHeap.Obj.Allocate(64, zeroed: true);
/// block.AsSpan().Fill(0xAB);
/// </code></example>
public sealed unsafe class PyHeapBlock : SafeHandle
{
    internal PyHeapBlock(PyHeapDomainKind domain)
        : base(0, ownsHandle: true)
    {
        Domain = domain;
    }

    internal void Attach(nint block, nuint size)
    {
        Size = size;
        SetHandle(block);
    }

    /// <summary>The domain that allocated the block and frees it.</summary>
    public PyHeapDomainKind Domain { get; }

    /// <summary>The size requested, in bytes (the usable size may be larger).</summary>
    public nuint Size { get; private set; }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <summary>The block's address; valid until the block is disposed or resized.</summary>
    /// <exception cref="ObjectDisposedException">The block was disposed.</exception>
    public nint Address
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return handle;
        }
    }

    /// <summary>The <see cref="Size"/> bytes of the block; valid until it is disposed or resized.</summary>
    /// <exception cref="ObjectDisposedException">The block was disposed.</exception>
    /// <exception cref="InvalidOperationException">The block is larger than <see cref="int.MaxValue"/> bytes.</exception>
    public Span<byte> AsSpan()
    {
        ObjectDisposedException.ThrowIf(IsClosed, this);
        if (Size > int.MaxValue)
            throw new InvalidOperationException($"A block of {Size} bytes does not fit in a Span<byte>.");
        return new Span<byte>((void*)handle, (int)Size);
    }

    /// <summary>
    /// Resizes the block (<c>realloc</c>), keeping min(old, new) bytes; the block may move.
    /// On failure the block is unchanged.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The block was disposed.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="newSize"/> is above <see cref="long.MaxValue"/>.</exception>
    /// <exception cref="OutOfMemoryException">The allocator returned null.</exception>
    public void Resize(nuint newSize)
    {
        using var self = new HandleLease(this);
        nint moved = PyHeap.Domain(Domain).Realloc(self.Value, newSize);
        SetHandle(moved);
        Size = newSize;
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        PyHeap.Domain(Domain).Free(handle);
        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => IsClosed ? $"<{Domain} block, disposed>" : $"<{Domain} block 0x{handle:x}, {Size} bytes>";
}

/// <summary>
/// Keeps a SafeHandle from being released while native code uses its value
/// (DangerousAddRef / DangerousRelease); a default lease holds nothing.
/// </summary>
internal ref struct HandleLease
{
    private readonly SafeHandle? _handle;
    private bool _added;

    public HandleLease(SafeHandle handle)
    {
        _handle = handle;
        _added = false;
        handle.DangerousAddRef(ref _added);   // ObjectDisposedException once closed
        Value = handle.DangerousGetHandle();
    }

    /// <summary>The handle's value (0 for a default lease).</summary>
    public nint Value { get; }

    public void Dispose()
    {
        if (_added)
        {
            _added = false;
            _handle!.DangerousRelease();
        }
    }
}
