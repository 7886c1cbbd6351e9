using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>Which accelerator a host's guests run under, and why (shown at start, in VM details and in benchmarks).</summary>
/// <param name="Accelerator"><c>kvm</c> or <c>tcg</c>.</param>
/// <param name="Reason">Why: configured, no usable <c>/dev/kvm</c>, or what the probe guest did under KVM.</param>
public sealed record AcceleratorChoice(string Accelerator, string Reason)
{
    public override string ToString() => $"{Accelerator} ({Reason})";
}

/// <summary>
/// Decides <c>auto</c>: KVM only when it runs a guest at speed. An openable <c>/dev/kvm</c> is not a usable one — a
/// nested KVM without the host's help can run guest code hundreds of times slower than TCG (measured on our CI machines:
/// our boot-sector guest wrote ~355 pages/s under KVM, ~160,000/s under TCG, and a Linux kernel never left real mode).
/// So the probe boots a tiny guest under KVM — our dirtying guest, 256 pages, a short busy loop — and reads its
/// position counter through QMP; KVM is chosen when the guest wrote <see cref="PagesNeeded"/> pages within
/// <see cref="Window"/> of the launch (TCG does that in well under a second, hardware KVM in milliseconds), else TCG.
/// One probe per QEMU binary per process; it stops as soon as the guest is fast enough.
/// </summary>
public static class AcceleratorProbe
{
    /// <summary>Pages the probe guest must have written under KVM within <see cref="Window"/>.</summary>
    public const uint PagesNeeded = 20_000;

    /// <summary>How long the probe guest may take, from launch, to write <see cref="PagesNeeded"/> pages.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(2);

    // guest/dirty-guest.S built with `guest/build.sh OUT 256 1000` (256 pages from 1 MiB, DELAY 1000); a test rebuilds
    // it from the source and compares, so the two cannot drift.
    private const string ProbeImageBase64 =
        "+jHAjtiO0LwAfOSSDAIk/uaSZg8BFrB8DyDAZoPIAQ8iwGbqKnwAAAgAZrgQAI7YjsCO0LwAfAAAxwUIBgAAR0lNT8cFDAYAAAAB" +
        "AADHBRAGAAAAABAAMdsx7UO/AAAQADH2iR9GiegB8KMEBgAAgccAEAAAuegDAABJdf2B/gABAABy3okdAAYAAIHFAAEAAOvIjXQm" +
        "AJAAAAAAAAAAAP//AAAAms8A//8AAACSzwAXAJh8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAVao=";

    private static readonly ConcurrentDictionary<string, Lazy<Task<AcceleratorChoice>>> Probes = new(StringComparer.Ordinal);

    /// <summary>The 512-byte probe boot sector.</summary>
    public static byte[] ProbeImage() => Convert.FromBase64String(ProbeImageBase64);

    /// <summary>
    /// The accelerator for <paramref name="options"/>: as configured for <c>kvm</c>/<c>tcg</c>; for <c>auto</c>,
    /// TCG without a read-write <c>/dev/kvm</c>, else the probe's verdict (cached per binary for this process).
    /// </summary>
    public static Task<AcceleratorChoice> ResolveAsync(QemuDriverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Accelerator != "auto")
            return Task.FromResult(new AcceleratorChoice(options.Accelerator, "configured (Qemu:Accelerator)"));
        if (KvmOpenError() is { } error)
            return Task.FromResult(new AcceleratorChoice("tcg", $"no usable /dev/kvm: {error}"));
        var probe = Probes.GetOrAdd(options.Binary, _ => new Lazy<Task<AcceleratorChoice>>(() => ProbeAsync(options)));
        return probe.Value;
    }

    /// <summary>Null when this process can open <c>/dev/kvm</c> for reading and writing, else why not.</summary>
    public static string? KvmOpenError()
    {
        try
        {
            using var kvm = new FileStream("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ex.Message;
        }
    }

    /// <summary>The verdict on what the probe guest did under KVM: KVM when it wrote <see cref="PagesNeeded"/> pages in time.</summary>
    /// <param name="position">Pages the guest had written when last read (0 when its header never appeared).</param>
    /// <param name="elapsed">Time from launch to that read.</param>
    public static AcceleratorChoice Judge(uint position, TimeSpan elapsed)
    {
        var seconds = elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture);
        return position >= PagesNeeded && elapsed <= Window
            ? new AcceleratorChoice("kvm", $"the KVM probe guest wrote {position} pages in {seconds} s")
            : new AcceleratorChoice("tcg", $"/dev/kvm opens but runs guests too slowly (nested KVM?): the probe guest wrote {position} pages in {seconds} s " +
                $"under KVM, needs {PagesNeeded} within {Window.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s; TCG is faster here");
    }

    private static async Task<AcceleratorChoice> ProbeAsync(QemuDriverOptions options)
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        var dir = OperatingSystem.IsWindows()
            ? throw new PlatformNotSupportedException("the QEMU driver runs on Linux")
            : Directory.CreateDirectory(options.RuntimeDirectory, Private).FullName;
        var tag = $"probe-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}"[..24];
        var image = Path.Combine(dir, tag + ".img");
        var socket = Path.Combine(dir, tag + ".qmp");
        var dump = Path.Combine(dir, tag + ".bin");
        await File.WriteAllBytesAsync(image, ProbeImage()).ConfigureAwait(false);
        QemuProcess? process = null;
        var started = Stopwatch.GetTimestamp();
        try
        {
            string[] arguments =
            [
                "-name", "guest=omig-accel-probe",
                "-machine", $"{options.MachineType},accel=kvm",
                "-m", "8", "-smp", "1",
                "-nodefaults", "-no-user-config",
                "-display", "none", "-serial", "none", "-monitor", "none", "-parallel", "none",
                "-blockdev", new System.Text.Json.Nodes.JsonObject { ["driver"] = "raw", ["node-name"] = "disk0", ["file"] = new System.Text.Json.Nodes.JsonObject { ["driver"] = "file", ["filename"] = image } }.ToJsonString(),
                "-device", "ide-hd,drive=disk0,bootindex=0",
            ];
            try
            {
                process = await QemuProcess.StartAsync(options.Binary, arguments, socket,
                    TimeSpan.FromMilliseconds(options.StartTimeoutMs), TimeSpan.FromSeconds(5), 0, CancellationToken.None).ConfigureAwait(false);
            }
            catch (QemuException ex)
            {
                return new AcceleratorChoice("tcg", $"QEMU could not start a guest under KVM: {ex.Message}");
            }

            started = Stopwatch.GetTimestamp();
            uint position = 0;
            var elapsed = TimeSpan.Zero;
            while (elapsed <= Window)
            {
                await QemuHypervisorDriver.PmemSaveAsync(process, DirtyGuest.HeaderAddress, DirtyGuest.HeaderBytes, dump, CancellationToken.None).ConfigureAwait(false);
                elapsed = Stopwatch.GetElapsedTime(started);
                position = DirtyGuest.ReadHeader(await File.ReadAllBytesAsync(dump).ConfigureAwait(false))?.Position ?? 0;
                if (position >= PagesNeeded)
                    break;
                await Task.Delay(50).ConfigureAwait(false);
            }

            return Judge(position, elapsed);
        }
        catch (Exception ex) when (ex is QemuException or Qmp.QmpConnectionException or Qmp.QmpTimeoutException or Qmp.QmpCommandException or IOException)
        {
            return new AcceleratorChoice("tcg", $"the KVM probe guest failed: {ex.Message}");
        }
        finally
        {
            if (process is not null)
                await process.DisposeAsync().ConfigureAwait(false);
            foreach (var file in new[] { image, dump, socket })
            {
                try
                {
                    File.Delete(file);
                }
                catch (IOException)
                {
                }
            }
        }
    }

}
