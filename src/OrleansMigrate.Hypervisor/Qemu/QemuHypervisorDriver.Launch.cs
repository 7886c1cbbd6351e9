using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>Launching a guest's QEMU: its command line, thread pinning, and the private runtime directory and socket names.</summary>
public sealed partial class QemuHypervisorDriver
{
    /// <summary>Guest RAM added under TCG, in KiB (QEMU rounds <c>-m</c> to 8 KiB).</summary>
    internal const int TcgRamPadKiB = 8;

    /// <summary>
    /// The <c>-m</c> value. Under KVM the VM's MiB. Under TCG 8 KiB more: QEMU before 9.0 syncs the dirty bitmap of a RAM
    /// block whose size is a multiple of 256 KiB through a fast path that never resets the TCG TLB's dirty state, so guest
    /// stores after a sync stop marking their pages dirty and the destination gets stale pages (upstream fix 03bfc2188f,
    /// "physmem: Fix migration dirty bitmap coherency with TCG memory access", QEMU 9.0; Debian 12's 7.2 lacks it). Our
    /// Linux guest showed it here as kernel oopses and TCP streams replaying an old record after roughly one migration in
    /// ten. A block size off that multiple takes the per-page path, which resets the TLB. Both sides of a migration
    /// compute the same size (a TCG guest never moves to a KVM host: the RAM sizes would differ and QEMU refuses).
    /// </summary>
    internal static string MemoryArgument(int memoryMiB, string accelerator) =>
        accelerator == "tcg"
            ? string.Create(CultureInfo.InvariantCulture, $"{(long)memoryMiB * 1024 + TcgRamPadKiB}K")
            : memoryMiB.ToString(CultureInfo.InvariantCulture);

    private async Task<QemuProcess> LaunchAsync(QemuVm vm, bool incoming, CancellationToken cancellationToken)
    {
        var spec = vm.Spec;
        var guest = spec.Qemu!;
        var image = CheckImage(guest.ImagePath);
        var (devices, serial) = GuestDeviceArguments(guest);
        var accelerator = await AcceleratorTask.ConfigureAwait(false);
        var arguments = new List<string>
        {
            // debug-threads: QEMU names its threads ("CPU 0/KVM", "migration"), so top and the pinning tests can tell them apart.
            "-name", $"guest={SafeName(spec.VmId)},debug-threads=on",
            "-machine", $"{guest.MachineType ?? _options.MachineType},accel={accelerator.Accelerator}",
            "-m", MemoryArgument(spec.MemoryMiB, accelerator.Accelerator),
            "-smp", spec.VCpuCount.ToString(CultureInfo.InvariantCulture),
            "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", serial, "-monitor", "none", "-parallel", "none",

            // JSON syntax: the path is a JSON string, so no character in it can inject another option.
            "-blockdev", new JsonObject { ["driver"] = "raw", ["node-name"] = "disk0", ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = image } }.ToJsonString(),
            "-device", guest.Linux is null ? "ide-hd,drive=disk0,bootindex=0" : "ide-hd,drive=disk0",

            // Always start stopped: capabilities are set before a vCPU runs, and an incoming guest runs only on our `cont`.
            "-S",
        };
        arguments.AddRange(devices);
        arguments.AddRange(HotplugPortArguments(spec, guest.MachineType ?? _options.MachineType));
        if (guest.NbdDisk is { } nbd)
            arguments.AddRange(nbd.Arguments());
        if (incoming)
            arguments.AddRange(["-incoming", "defer"]);

        var socket = Path.Combine(RuntimeDirectory(), SocketName(spec.VmId));
        var process = await QemuProcess.StartAsync(_options.Binary, arguments, socket,
            TimeSpan.FromMilliseconds(_options.StartTimeoutMs), TimeSpan.FromMilliseconds(_options.CommandTimeoutMs),
            _options.ProcessPriority switch { "high" => -11, "above-normal" => -5, _ => 0 }, cancellationToken).ConfigureAwait(false);
        vm.Accelerator = accelerator.Accelerator;
        try
        {
            await PinAsync(process, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        vm.Attach(process);
        if (!incoming)
            await WriteStateFileAsync(vm, process).ConfigureAwait(false);
        return process;
    }

    /// <summary>Pins the new QEMU's threads (<see cref="QemuDriverOptions.EmulatorCpus"/> for all of them first, then
    /// <see cref="QemuDriverOptions.VcpuCpus"/> for each vCPU thread QEMU names in <c>query-cpus-fast</c>); threads QEMU
    /// starts later (the migration thread) inherit the emulator set from its main thread.</summary>
    private async Task PinAsync(QemuProcess process, CancellationToken cancellationToken)
    {
        if (_options.EmulatorCpus is { } emulator)
            CpuSet.Parse(emulator, "Qemu:EmulatorCpus").PinProcess(process.ProcessId);
        if (_options.VcpuCpus is not { } vcpus)
            return;
        var set = CpuSet.Parse(vcpus, "Qemu:VcpuCpus");
        var reply = await process.ExecuteAsync("query-cpus-fast", cancellationToken: cancellationToken).ConfigureAwait(false);
        var threads = (reply as JsonArray ?? []).Select(c => c?["thread-id"]?.GetValue<long>()).OfType<long>().Distinct().ToList();
        if (threads.Count == 0)
            throw new QemuException("query-cpus-fast named no vCPU thread to pin");
        foreach (var tid in threads)
            set.PinThread((int)tid);
    }

    private string RuntimeDirectory()
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (OperatingSystem.IsWindows())
            throw new PlatformNotSupportedException("the QEMU driver runs on Linux");
        var dir = Directory.CreateDirectory(_options.RuntimeDirectory, Private);
        File.SetUnixFileMode(dir.FullName, Private);
        return dir.FullName;
    }

    private string SocketName(string vmId)
    {
        var key = $"{HostId}/{vmId}/{Environment.ProcessId}/{Interlocked.Increment(ref _sequence)}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..20] + ".qmp";
    }

    private static string SafeName(string vmId) =>
        new([.. vmId.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' ? c : '_')]);
}
