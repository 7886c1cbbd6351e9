using System.Globalization;
using System.Runtime.InteropServices;

namespace OrleansMigrate.Hypervisor;

/// <summary>
/// A set of CPUs in the kernel's list syntax (<c>0</c>, <c>2-7</c>, <c>0,4-5</c>), and the pinning of threads to it
/// with <c>sched_setaffinity(2)</c>. A hypervisor host usually keeps a few housekeeping cores for the host's own
/// processes (the host silo, QEMU's main loop, I/O and migration threads) and gives the rest to guests' vCPUs, so a
/// switchover's control-plane work never competes with a running guest, nor a guest with the switchover.
/// </summary>
public sealed partial class CpuSet
{
    /// <summary>The highest CPU number accepted (the kernel's default <c>CONFIG_NR_CPUS</c> bound).</summary>
    public const int MaxCpu = 1023;

    private CpuSet(IReadOnlyList<int> cpus) => Cpus = cpus;

    /// <summary>The CPUs, ascending, each once.</summary>
    public IReadOnlyList<int> Cpus { get; }

    /// <summary>Parses a CPU list; throws <see cref="ArgumentException"/> naming <paramref name="field"/> and the reason.
    /// With <paramref name="cpuCount"/> every CPU must exist on this machine (below it).</summary>
    public static CpuSet Parse(string? text, string field, int? cpuCount = null)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new ArgumentException($"{field}: a CPU list is required, such as 0 or 2-7 or 0,4-5", field);
        var cpus = new SortedSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var bounds = part.Split('-', StringSplitOptions.TrimEntries);
            if (bounds.Length is < 1 or > 2 || !bounds.All(b => int.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                throw new ArgumentException($"{field}: '{part}' is not a CPU number or a range such as 2-7", field);
            var first = int.Parse(bounds[0], CultureInfo.InvariantCulture);
            var last = bounds.Length == 2 ? int.Parse(bounds[1], CultureInfo.InvariantCulture) : first;
            if (last < first)
                throw new ArgumentException($"{field}: the range '{part}' ends before it starts", field);
            if (last > MaxCpu)
                throw new ArgumentException($"{field}: CPU {last} is above {MaxCpu}", field);
            if (cpuCount is { } count && last >= count)
                throw new ArgumentException($"{field}: CPU {last} does not exist here (this machine has CPUs 0-{count - 1})", field);
            for (var cpu = first; cpu <= last; cpu++)
                cpus.Add(cpu);
        }

        return new CpuSet([.. cpus]);
    }

    /// <summary>Whether the two sets share a CPU.</summary>
    public bool Overlaps(CpuSet other) => Cpus.Intersect(other.Cpus).Any();

    /// <summary>The set in list syntax, ranges collapsed (<c>0,2-4</c>).</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        for (var i = 0; i < Cpus.Count;)
        {
            var j = i;
            while (j + 1 < Cpus.Count && Cpus[j + 1] == Cpus[j] + 1)
                j++;
            parts.Add(i == j ? Cpus[i].ToString(CultureInfo.InvariantCulture) : $"{Cpus[i]}-{Cpus[j]}");
            i = j + 1;
        }

        return string.Join(',', parts);
    }

    /// <summary>Pins one thread (a Linux thread id; 0 is the calling thread). Throws <see cref="InvalidOperationException"/>
    /// with the errno when the kernel refuses (no such thread, or no permitted CPU in the set).</summary>
    public void PinThread(int threadId)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("CPU pinning is done on Linux only");
        var mask = new ulong[(MaxCpu + 1) / 64];
        foreach (var cpu in Cpus)
            mask[cpu / 64] |= 1UL << (cpu % 64);
        if (sched_setaffinity(threadId, (nint)(mask.Length * sizeof(ulong)), mask) != 0)
            throw new InvalidOperationException($"sched_setaffinity({threadId}, {this}) failed with errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Pins every thread <paramref name="processId"/> has now; threads it creates later inherit the set from
    /// their creator. A thread that exits meanwhile is skipped. Returns how many threads were pinned.</summary>
    public int PinProcess(int processId)
    {
        var pinned = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{processId.ToString(CultureInfo.InvariantCulture)}/task"))
        {
            if (!int.TryParse(Path.GetFileName(task), NumberStyles.None, CultureInfo.InvariantCulture, out var tid))
                continue;
            try
            {
                PinThread(tid);
                pinned++;
            }
            catch (InvalidOperationException) when (!Directory.Exists(task))
            {
                // The thread ended between the listing and the call.
            }
        }

        return pinned;
    }

    /// <summary>The CPUs thread <paramref name="threadId"/> may run on now (read back from the kernel).</summary>
    public static CpuSet Of(int threadId)
    {
        var mask = new ulong[(MaxCpu + 1) / 64];
        if (sched_getaffinity(threadId, (nint)(mask.Length * sizeof(ulong)), mask) < 0)
            throw new InvalidOperationException($"sched_getaffinity({threadId}) failed with errno {Marshal.GetLastPInvokeError()}");
        var cpus = new List<int>();
        for (var cpu = 0; cpu <= MaxCpu; cpu++)
        {
            if ((mask[cpu / 64] & (1UL << (cpu % 64))) != 0)
                cpus.Add(cpu);
        }

        return new CpuSet(cpus);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nint cpusetsize, ulong[] mask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_getaffinity(int pid, nint cpusetsize, [System.Runtime.InteropServices.Out] ulong[] mask);
}
