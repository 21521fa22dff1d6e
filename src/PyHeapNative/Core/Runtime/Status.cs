namespace PyHeapNative.Core.Runtime;

/// <summary>The PHN_E* status codes of include/pyheapnative/phn_config.h.</summary>
internal static class Status
{
    internal const int Ok = 0;
    internal const int InvalidArgument = -1;   // PHN_EINVAL
    internal const int NoMemory = -2;          // PHN_ENOMEM
    internal const int InvalidState = -3;      // PHN_ESTATE
    internal const int Internal = -4;          // PHN_EINTERNAL
    internal const int NotSupported = -5;      // PHN_ENOTSUP
    internal const int Corrupt = -6;           // PHN_ECORRUPT
    internal const int CallbackFailed = -7;    // PHN_ECALLBACK

    /// <summary>PY_SSIZE_T_MAX: the largest request any domain accepts.</summary>
    internal static nuint MaxRequest => (nuint)nint.MaxValue;
}
