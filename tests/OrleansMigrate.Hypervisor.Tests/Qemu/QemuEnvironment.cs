using System.Diagnostics;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>
/// Real QEMU for the tests: the binary (installed by tests/run.sh when missing) and our dirtying guest,
/// built from guest/dirty-guest.S into a private image directory. Fails loudly when either is missing.
/// </summary>
public sealed class QemuEnvironment : IDisposable
{
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
    }

    public string Root { get; }

    public string ImageDirectory { get; }

    public string RuntimeDirectory { get; }

    public string Binary { get; }

    public string GuestImage { get; }

    public QemuDriverOptions Options(Action<QemuDriverOptions>? configure = null)
    {
        var options = new QemuDriverOptions { Binary = Binary, RuntimeDirectory = RuntimeDirectory, StopGuestsOnShutdown = true };
        options.ImageDirectories.Add(ImageDirectory);
        configure?.Invoke(options);
        return options;
    }

    public VmSpec Spec(string vmId, int memoryMiB = 64) => new()
    {
        VmId = vmId,
        MemoryMiB = memoryMiB,
        VCpuCount = 1,
        Qemu = new QemuGuest { ImagePath = GuestImage },
    };

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

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
