using System.Runtime.InteropServices;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// Process-wide reserve of faulted-in guest RAM regions, like the preallocated hugepage pool of a
/// hypervisor host. New regions are 2 MiB-aligned, advised as transparent hugepages on Linux and touched
/// once (in parallel); released regions of the same size are reused without touching them again, up to
/// <see cref="CapacityBytes"/> kept in reserve (the rest is freed).
/// </summary>
internal static unsafe partial class GuestMemoryPool
{
    private const nuint Alignment = 2 << 20;
    private const int MadviseHugePage = 14;

    private static readonly Lock Gate = new();
    private static readonly List<(IntPtr Pointer, long Bytes)> Free = [];
    private static long _reservedBytes;

    /// <summary>Most bytes kept in reserve after release: 3 GiB, enough for a 1 GiB source and destination plus small guests.</summary>
    public static long CapacityBytes { get; set; } = 3L << 30;

    public static byte* Rent(long bytes)
    {
        lock (Gate)
        {
            for (var i = 0; i < Free.Count; i++)
            {
                if (Free[i].Bytes == bytes)
                {
                    var pointer = Free[i].Pointer;
                    Free.RemoveAt(i);
                    _reservedBytes -= bytes;
                    return (byte*)pointer;
                }
            }
        }

        var region = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, Alignment);
        if (OperatingSystem.IsLinux())
            _ = Madvise((IntPtr)region, (nuint)bytes, MadviseHugePage);
        Prefault(region, bytes);
        return region;
    }

    public static void Return(byte* region, long bytes)
    {
        lock (Gate)
        {
            if (_reservedBytes + bytes <= CapacityBytes)
            {
                Free.Add(((IntPtr)region, bytes));
                _reservedBytes += bytes;
                return;
            }
        }

        NativeMemory.AlignedFree(region);
    }

    private static void Prefault(byte* region, long bytes)
    {
        const long chunk = 2 << 20;
        var chunks = (bytes + chunk - 1) / chunk;
        var address = (IntPtr)region;
        Parallel.For(0, chunks, c =>
        {
            var start = (byte*)address + (c * chunk);
            var end = Math.Min(bytes, (c + 1) * chunk) - (c * chunk);
            for (long offset = 0; offset < end; offset += GuestMemory.PageSize)
                start[offset] = 0;
        });
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(IntPtr address, nuint length, int advice);
}
