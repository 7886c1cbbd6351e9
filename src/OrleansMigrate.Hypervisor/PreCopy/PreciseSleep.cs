using System.Runtime.InteropServices;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>
/// Sub-millisecond sleeps for the link pacer. <see cref="Thread.Sleep(TimeSpan)"/> rounds to whole
/// milliseconds and timer-based delays can be several milliseconds coarse, while spinning steals a core
/// from the guest and the destination on small hosts; Linux <c>nanosleep</c> wakes within tens of
/// microseconds. Elsewhere it falls back to <see cref="Thread.Sleep(int)"/> and yielding.
/// </summary>
public static partial class PreciseSleep
{
    private static readonly bool Native = OperatingSystem.IsLinux() && Probe();

    /// <summary>Sleeps at least <paramref name="microseconds"/> (plus the kernel's wake-up latency).</summary>
    public static void Sleep(double microseconds)
    {
        if (microseconds <= 0)
            return;
        if (Native)
        {
            var whole = (long)microseconds;
            var request = new TimeSpec { Seconds = whole / 1_000_000, Nanoseconds = whole % 1_000_000 * 1000 };
            _ = NanoSleep(request, IntPtr.Zero);
            return;
        }

        if (microseconds >= 1000)
            Thread.Sleep((int)(microseconds / 1000));
        else
            Thread.Yield();
    }

    private static bool Probe()
    {
        try
        {
            var request = new TimeSpec { Seconds = 0, Nanoseconds = 1000 };
            return NanoSleep(request, IntPtr.Zero) == 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "nanosleep")]
    private static partial int NanoSleep(in TimeSpec request, IntPtr remaining);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
