// The text of CPython's sys._debugmallocstats() for pymalloc (_PyObject_DebugMallocStats),
// byte for byte: rows "%5u %6u %11zu %15zu %13zu", and value lines made of a label padded to
// 35 columns, '=', and the value with thousands separators right-aligned in 21 columns.
using System.Text;
using static PyHeapNative.Core.Pymalloc.Tunables;

namespace PyHeapNative.Core.Pymalloc;

internal static class MallocStatsText
{
    internal static string Format(in PymallocStatistics s)
    {
        var o = new StringBuilder(4096);
        o.Append("Small block threshold = ").Append(SmallRequestThreshold)
         .Append(", in ").Append(NumSizeClasses).Append(" size classes.\n\n");
        o.Append("class   size   num pools   blocks in use  avail blocks\n");
        o.Append("-----   ----   ---------   -------------  ------------\n");
        for (int i = 0; i < NumSizeClasses; i++)
        {
            SizeClassStatistics c = s.SizeClasses[i];
            if (c.Pools == 0)
                continue;
            o.Append($"{i,5} {c.BlockSize,6} {c.Pools,11} {c.BlocksInUse,15} {c.BlocksAvailable,13}\n");
        }
        o.Append('\n');

        ulong narenas = s.ArenasAllocatedCurrent;
        PrintOne(o, "# arenas allocated total", s.ArenasAllocatedTotal);
        PrintOne(o, "# arenas reclaimed", s.ArenasReclaimed);
        PrintOne(o, "# arenas highwater mark", s.ArenasHighwater);
        PrintOne(o, "# arenas allocated current", narenas);
        PrintOne(o, $"{narenas} arenas * {ArenaSize} bytes/arena", narenas * ArenaSize);
        o.Append('\n');

        ulong total = PrintOne(o, "# bytes in allocated blocks", s.BytesInAllocatedBlocks);
        total += PrintOne(o, "# bytes in available blocks", s.BytesInAvailableBlocks);
        total += PrintOne(o, $"{s.UnusedPools} unused pools * {PoolSize} bytes", s.BytesInUnusedPools);
        total += PrintOne(o, "# bytes lost to pool headers", s.BytesLostToPoolHeaders);
        total += PrintOne(o, "# bytes lost to quantization", s.BytesLostToQuantization);
        total += PrintOne(o, "# bytes lost to arena alignment", s.BytesLostToArenaAlignment);
        PrintOne(o, "Total", total);

        o.Append("\narena map counts\n");
        PrintOne(o, "# arena map mid nodes", s.ArenaMapMidNodes);
        PrintOne(o, "# arena map bot nodes", s.ArenaMapBotNodes);
        o.Append('\n');
        total = PrintOne(o, "# bytes lost to arena map root", s.BytesLostToArenaMapRoot);
        total += PrintOne(o, "# bytes lost to arena map mid", s.BytesLostToArenaMapMid);
        total += PrintOne(o, "# bytes lost to arena map bot", s.BytesLostToArenaMapBot);
        PrintOne(o, "Total", total);
        return o.ToString();
    }

    /// <summary>CPython's printone: label, spaces to column 35, '=', comma-grouped value in 21 columns.</summary>
    private static ulong PrintOne(StringBuilder o, string label, ulong value)
    {
        o.Append(label);
        for (int i = label.Length; i < 35; i++)
            o.Append(' ');
        o.Append('=');
        o.Append(value.ToString("#,0", System.Globalization.CultureInfo.InvariantCulture).PadLeft(21));
        o.Append('\n');
        return value;
    }
}
