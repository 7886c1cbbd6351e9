using System.Diagnostics;
using System.Net;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Hypervisor.Tests.Qemu;

namespace OrleansMigrate.Hypervisor.Tests.Linux;

/// <summary>
/// The Linux lab guest for the tests: kernel and initramfs from <c>OMIG_LINUX_GUEST_DIR</c> (tests/lab/setup-lab.sh
/// builds them), else built here with guest/linux/build.sh into /tmp/omig-linux-guest (cached). Owns a private root
/// (images, runtime directory, console logs) and kills every QEMU whose command line names it; owns the network
/// namespace <c>omg-{pid}</c> and the taps <c>omg{pid}{letter}</c>, removed at the end.
/// </summary>
public sealed class LinuxGuestEnvironment : IDisposable
{
    /// <summary>The guest's address, gateway and agent ports (the lab conventions).</summary>
    public static readonly IPAddress GuestIp = IPAddress.Parse("172.30.0.10");
    public const string GatewayIp = "172.30.0.1";
    public const int UdpPort = 7007;
    public const int TcpPort = 7008;

    /// <summary>The MAC every tap of this environment carries, so the guest's ARP entry for its gateway stays right after a migration.</summary>
    public const string TapMac = "fe:ff:ff:ff:ff:fe";

    private readonly List<string> _taps = [];
    private int _nextTap;

    public LinuxGuestEnvironment()
    {
        var id = (Environment.ProcessId % 100000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Namespace = $"omg-{id}";
        TapPrefix = $"omg{id}";
        Root = Path.Combine(Path.GetTempPath(), $"omg-{Environment.ProcessId}-{Guid.NewGuid():N}"[..24]);
        ImageDirectory = Directory.CreateDirectory(Path.Combine(Root, "images")).FullName;
        RuntimeDirectory = Path.Combine(Root, "run");
        GuestDirectory = Environment.GetEnvironmentVariable("OMIG_LINUX_GUEST_DIR") is { Length: > 0 } dir ? dir : "/tmp/omig-linux-guest";
        var build = Stopwatch.StartNew();
        Run("bash", Path.Combine(QemuEnvironment.RepositoryRoot(), "guest", "linux", "build.sh"), GuestDirectory);
        System.Console.Error.WriteLine($"Linux guest: build.sh took {build.ElapsedMilliseconds} ms ({GuestDirectory})");
        Kernel = Path.Combine(GuestDirectory, "vmlinuz");
        Initrd = Path.Combine(GuestDirectory, "initrd.img");
        BootImage = Path.Combine(ImageDirectory, "boot.img");
        File.WriteAllBytes(BootImage, new byte[512]);

        HostCommand.TryRunAsync("ip", ["netns", "del", Namespace]).GetAwaiter().GetResult();
        HostCommand.RunAsync("ip", ["netns", "add", Namespace]).GetAwaiter().GetResult();
        HostCommand.RunAsync("ip", ["-n", Namespace, "link", "set", "lo", "up"]).GetAwaiter().GetResult();
    }

    public string Namespace { get; }

    public string TapPrefix { get; }

    public string Root { get; }

    public string ImageDirectory { get; }

    public string RuntimeDirectory { get; }

    public string GuestDirectory { get; }

    public string Kernel { get; }

    public string Initrd { get; }

    public string BootImage { get; }

    public IPEndPoint UdpTarget => new(GuestIp, UdpPort);

    public IPEndPoint TcpTarget => new(GuestIp, TcpPort);

    public QemuDriverOptions Options()
    {
        var options = new QemuDriverOptions { RuntimeDirectory = RuntimeDirectory, StopGuestsOnShutdown = true, Accelerator = "auto" };
        options.ImageDirectories.Add(ImageDirectory);
        options.ImageDirectories.Add(GuestDirectory);
        return options;
    }

    /// <summary>A blank raw data disk of <paramref name="mib"/> MiB in the image directory.</summary>
    public string NewDataDisk(string name, int mib = 8)
    {
        var path = Path.Combine(ImageDirectory, name);
        using var file = File.Create(path);
        file.SetLength(mib * 1024L * 1024);
        return path;
    }

    /// <summary>A new persistent tap in the root namespace (QEMU opens taps by name there); <see cref="AttachTapAsync"/>
    /// moves it into the test namespace once QEMU holds it.</summary>
    public async Task<string> NewTapAsync()
    {
        var name = $"{TapPrefix}{(char)('a' + _nextTap++)}";
        _taps.Add(name);
        await HostCommand.TryRunAsync("ip", ["link", "del", name]).ConfigureAwait(false);
        await HostCommand.RunAsync("ip", ["tuntap", "add", "dev", name, "mode", "tap"]).ConfigureAwait(false);
        return name;
    }

    /// <summary>Moves the tap QEMU holds into the test namespace as the guest's routed gateway: the shared MAC, proxy
    /// ARP, the gateway address; with <paramref name="route"/> the guest's /32 route goes through it.</summary>
    public async Task AttachTapAsync(string tap, bool route)
    {
        await HostCommand.RunAsync("ip", ["link", "set", tap, "netns", Namespace]).ConfigureAwait(false);
        await HostCommand.RunAsync("ip", ["-n", Namespace, "link", "set", tap, "address", TapMac]).ConfigureAwait(false);
        await HostCommand.RunAsync("ip", ["-n", Namespace, "link", "set", tap, "up"]).ConfigureAwait(false);
        await HostCommand.RunAsync("ip", ["netns", "exec", Namespace, "sysctl", "-qw", $"net.ipv4.conf.{tap}.proxy_arp=1"]).ConfigureAwait(false);
        await HostCommand.RunAsync("ip", ["-n", Namespace, "addr", "add", GatewayIp + "/32", "dev", tap]).ConfigureAwait(false);
        if (route)
            await RouteViaAsync(tap).ConfigureAwait(false);
    }

    /// <summary>Points the guest's /32 route at <paramref name="tap"/> (the switch a host does after a migration).</summary>
    public Task RouteViaAsync(string tap) =>
        HostCommand.RunAsync("ip", ["-n", Namespace, "route", "replace", GuestIp + "/32", "dev", tap]);

    /// <summary>The VM's spec: the Linux guest on <paramref name="tap"/>, with <paramref name="dataDisk"/> written at <paramref name="diskHz"/> records/s.</summary>
    public VmSpec Spec(string vmId, string tap, string? dataDisk, string consoleLog, int diskHz = 50) => new()
    {
        VmId = vmId,
        MemoryMiB = 128,
        VCpuCount = 1,
        Qemu = new QemuGuest
        {
            ImagePath = BootImage,
            Linux = new QemuLinuxBoot
            {
                KernelPath = Kernel,
                InitrdPath = Initrd,
                ConsoleLogPath = Path.Combine(ImageDirectory, consoleLog),
                CommandLine = $"console=ttyS0 quiet panic=-1 omig.ip={GuestIp}/24 omig.gw={GatewayIp} omig.udp={UdpPort} omig.tcp={TcpPort}"
                    + (dataDisk is null ? string.Empty : $" omig.disk=/dev/vda omig.diskhz={diskHz}"),
            },
            Nics = [new QemuNic { TapName = tap, Mac = "52:54:00:00:00:10" }],
            DataDiskPath = dataDisk,
        },
    };

    /// <summary>The console log so far (for failure messages).</summary>
    public string ConsoleText(string name)
    {
        var path = Path.Combine(ImageDirectory, name);
        return File.Exists(path) ? File.ReadAllText(path) : "(no console log)";
    }

    public void Dispose()
    {
        KillOwned();
        HostCommand.TryRunAsync("ip", ["netns", "del", Namespace]).GetAwaiter().GetResult();
        foreach (var tap in _taps)
        {
            if (Directory.Exists($"/sys/class/net/{tap}"))
                HostCommand.TryRunAsync("ip", ["link", "del", tap]).GetAwaiter().GetResult();
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>SIGKILLs every process whose command line names <see cref="Root"/> (this environment's QEMUs only).</summary>
    public void KillOwned() => Support.OwnedProcesses.Kill(Root);

    private static void Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in arguments)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(600_000))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} did not finish within 10 min");
        }

        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr.Result}{stdout.Result}");
    }
}
