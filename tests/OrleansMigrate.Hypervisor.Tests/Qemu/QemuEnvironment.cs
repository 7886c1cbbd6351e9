using System.Diagnostics;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>
/// Real QEMU for the tests: the binary (installed by tests/run.sh when missing) and our dirtying guest,
/// built from guest/dirty-guest.S into a private image directory. Fails loudly when either is missing.
/// It owns every QEMU its tests start: they all run with sockets under <see cref="Root"/>, and
/// <see cref="EndTest"/> (each test class's Dispose) kills whatever a test left running, so one failing test cannot
/// leave a guest holding an image's write lock for the next. Each test gets fresh copies of the guest image.
/// </summary>
public sealed class QemuEnvironment : IDisposable
{
    private int _generation;

    public QemuEnvironment()
    {
        Root = Path.Combine(Path.GetTempPath(), $"omq-{Environment.ProcessId}-{Guid.NewGuid():N}"[..24]);
        ImageDirectory = Directory.CreateDirectory(Path.Combine(Root, "images")).FullName;
        RuntimeDirectory = Path.Combine(Root, "run");
        Binary = Environment.GetEnvironmentVariable("OMIG_QEMU_BINARY") ?? "qemu-system-x86_64";
        GuestImage = Path.Combine(ImageDirectory, "dirty-guest.img");
        var build = Path.Combine(RepositoryRoot(), "guest", "build.sh");
        Run("bash", build, GuestImage, "4096", "20000");
        Run(Binary, "--version");

        // Which accelerator `auto` picks here, and why: said once, in the test log and in the run's summary.
        Accelerator = AcceleratorProbe.ResolveAsync(Options()).GetAwaiter().GetResult();
        Console.Error.WriteLine($"QEMU tests: guests run under {Accelerator}");
        if (Environment.GetEnvironmentVariable("OMIG_TEST_OUT") is { Length: > 0 } report)
            File.WriteAllText(Path.Combine(report, "accelerator.txt"), Accelerator + Environment.NewLine);
    }

    /// <summary>What <c>auto</c> chose on this machine for the tests' guests.</summary>
    public AcceleratorChoice Accelerator { get; }

    public string Root { get; }

    public string ImageDirectory { get; }

    public string RuntimeDirectory { get; }

    public string Binary { get; }

    public string GuestImage { get; }

    public QemuDriverOptions Options(Action<QemuDriverOptions>? configure = null)
    {
        // tests/run.sh --accel tcg|kvm forces one (OMIG_TEST_ACCEL); otherwise auto, as on a host.
        var accelerator = Environment.GetEnvironmentVariable("OMIG_TEST_ACCEL") is { Length: > 0 } forced ? forced : "auto";
        var options = new QemuDriverOptions { Binary = Binary, RuntimeDirectory = RuntimeDirectory, StopGuestsOnShutdown = true, Accelerator = accelerator };
        options.ImageDirectories.Add(ImageDirectory);
        configure?.Invoke(options);
        return options;
    }

    public VmSpec Spec(string vmId, int memoryMiB = 64) => new()
    {
        VmId = vmId,
        MemoryMiB = memoryMiB,
        VCpuCount = 1,
        Qemu = new QemuGuest { ImagePath = ImageFor(vmId) },
    };

    /// <summary>This test's copy of the guest image for <paramref name="vmId"/> (source and destination share it, as a
    /// cloud disk is shared); the next test gets a new one.</summary>
    public string ImageFor(string vmId)
    {
        var path = Path.Combine(ImageDirectory, $"{vmId}-t{Volatile.Read(ref _generation)}.img");
        if (!File.Exists(path))
            File.Copy(GuestImage, path);
        return path;
    }

    /// <summary>After each test: kills every QEMU it left (found by this environment's private paths on their command
    /// lines) and moves on to fresh image copies.</summary>
    public void EndTest()
    {
        KillOwned();
        Interlocked.Increment(ref _generation);
    }

    public void Dispose()
    {
        KillOwned();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>SIGKILLs every process whose command line names <see cref="Root"/>: the QEMUs this environment's
    /// drivers started (their QMP sockets and images live there), and nothing else.</summary>
    private void KillOwned() => Support.OwnedProcesses.Kill(Root);

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OrleansMigrate.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException("repository root (OrleansMigrate.sln) not found above " + AppContext.BaseDirectory);
    }

    private static void Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(true);
            throw new InvalidOperationException($"{file} timed out");
        }

        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed with {p.ExitCode}: {stderr.Result} (tests/run.sh installs QEMU and binutils)");
    }
}

[CollectionDefinition("qemu")]
public sealed class QemuCollection : ICollectionFixture<QemuEnvironment>;
