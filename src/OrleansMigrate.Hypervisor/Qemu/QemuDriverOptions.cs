namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>How a host runs QEMU. Bound from the silo's <c>Qemu</c> configuration section.</summary>
public sealed class QemuDriverOptions
{
    /// <summary>The QEMU binary: an absolute path, or a bare name looked up on <c>PATH</c>.</summary>
    public string Binary { get; set; } = "qemu-system-x86_64";

    /// <summary>Directory for QMP sockets and memory dumps; created with mode 0700. Keep it short: a unix
    /// socket path must fit in 107 bytes.</summary>
    public string RuntimeDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "omig-qemu");

    /// <summary>Directories disk images may live in (after resolving symbolic links). A VM whose image is
    /// elsewhere is refused.</summary>
    public IList<string> ImageDirectories { get; } = new List<string>();

    /// <summary><c>auto</c> (kvm when <c>/dev/kvm</c> opens read-write, else tcg), <c>kvm</c> or <c>tcg</c>.</summary>
    public string Accelerator { get; set; } = "auto";

    /// <summary>Machine type when the VM does not name one.</summary>
    public string MachineType { get; set; } = "pc";

    /// <summary>Address the incoming migration stream listens on.</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>How long QEMU may take to open its QMP socket after launch, in ms (100..120000).</summary>
    public int StartTimeoutMs { get; set; } = 15_000;

    /// <summary>Per-command QMP timeout, in ms (100..600000).</summary>
    public int CommandTimeoutMs { get; set; } = 10_000;

    /// <summary>How often pre-copy progress is sampled with <c>query-migrate</c>, in ms (10..10000). Never
    /// sampled inside the downtime.</summary>
    public int ProgressIntervalMs { get; set; } = 100;

    /// <summary>
    /// Scheduling priority of the QEMU processes relative to the host agent: <c>normal</c> (default),
    /// <c>above-normal</c> (nice -5) or <c>high</c> (nice -11; needs CAP_SYS_NICE). Raising it keeps the control plane's
    /// own work during a switchover from delaying the hypervisor on a host without dedicated cores.
    /// </summary>
    public string ProcessPriority { get; set; } = "normal";

    /// <summary>
    /// Housekeeping CPUs for QEMU's own threads (main loop, I/O, the migration thread), in list syntax (<c>0</c>,
    /// <c>0-1</c>); null (default) leaves them where the kernel puts them. With <see cref="VcpuCpus"/> this is the usual
    /// split of a hypervisor host: emulator threads and the host silo on housekeeping cores, vCPUs elsewhere, so the
    /// switchover's work (the source's final copy, the destination's load, the agent's steps) never waits for a
    /// running guest's vCPU. Every CPU must exist on the host.
    /// </summary>
    public string? EmulatorCpus { get; set; }

    /// <summary>CPUs for the guests' vCPU threads, in list syntax (<c>1</c>, <c>2-7</c>); null (default) leaves them unpinned.</summary>
    public string? VcpuCpus { get; set; }

    /// <summary>
    /// What disposing the driver (a graceful agent shutdown) does to the guests: false (default) leaves them running,
    /// as guests outlive libvirtd — the next driver for the host adopts them from their state files in
    /// <see cref="RuntimeDirectory"/>; true stops them (tests, benchmarks). Migrations in flight are rolled back either way.
    /// </summary>
    public bool StopGuestsOnShutdown { get; set; }

    /// <summary>QMP commands <c>omig vm qmp</c> may pass through, beyond the read-only default list.</summary>
    public IList<string> QmpAllow { get; } = new List<string>();

    /// <summary>Allows <c>human-monitor-command</c> through <c>omig vm qmp</c> (off by default: HMP can do anything).</summary>
    public bool AllowHumanMonitor { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Binary))
            throw new ArgumentException("Qemu:Binary is empty.", nameof(Binary));
        if (string.IsNullOrWhiteSpace(RuntimeDirectory) || !Path.IsPathFullyQualified(RuntimeDirectory))
            throw new ArgumentException($"Qemu:RuntimeDirectory must be an absolute path, was '{RuntimeDirectory}'.", nameof(RuntimeDirectory));
        if (RuntimeDirectory.Length > 80)
            throw new ArgumentException($"Qemu:RuntimeDirectory is {RuntimeDirectory.Length} characters: at most 80, so socket paths fit.", nameof(RuntimeDirectory));
        foreach (var dir in ImageDirectories)
        {
            if (string.IsNullOrWhiteSpace(dir) || !Path.IsPathFullyQualified(dir))
                throw new ArgumentException($"Qemu:ImageDirectories entries must be absolute paths, got '{dir}'.", nameof(ImageDirectories));
        }

        if (Accelerator is not ("auto" or "kvm" or "tcg"))
            throw new ArgumentException($"Qemu:Accelerator must be auto, kvm or tcg, was '{Accelerator}'.", nameof(Accelerator));
        if (!QemuNames.IsMachineType(MachineType))
            throw new ArgumentException($"Qemu:MachineType '{MachineType}' is not a machine type name.", nameof(MachineType));
        if (ProcessPriority is not ("normal" or "above-normal" or "high"))
            throw new ArgumentException($"Qemu:ProcessPriority must be normal, above-normal or high, was '{ProcessPriority}'.", nameof(ProcessPriority));
        if (EmulatorCpus is not null)
            CpuSet.Parse(EmulatorCpus, "Qemu:EmulatorCpus", Environment.ProcessorCount);
        if (VcpuCpus is not null)
            CpuSet.Parse(VcpuCpus, "Qemu:VcpuCpus", Environment.ProcessorCount);
        if (StartTimeoutMs is < 100 or > 120_000)
            throw new ArgumentException($"Qemu:StartTimeoutMs must be 100..120000, was {StartTimeoutMs}.", nameof(StartTimeoutMs));
        if (CommandTimeoutMs is < 100 or > 600_000)
            throw new ArgumentException($"Qemu:CommandTimeoutMs must be 100..600000, was {CommandTimeoutMs}.", nameof(CommandTimeoutMs));
        if (ProgressIntervalMs is < 10 or > 10_000)
            throw new ArgumentException($"Qemu:ProgressIntervalMs must be 10..10000, was {ProgressIntervalMs}.", nameof(ProgressIntervalMs));
        foreach (var command in QmpAllow)
        {
            if (!QemuNames.IsCommand(command))
                throw new ArgumentException($"Qemu:QmpAllow entry '{command}' is not a QMP command name.", nameof(QmpAllow));
        }
    }
}

/// <summary>Name checks for values that end up on a QEMU command line or in QMP.</summary>
public static class QemuNames
{
    /// <summary>A machine type such as <c>pc</c>, <c>q35</c> or <c>pc-i440fx-7.2</c>.</summary>
    public static bool IsMachineType(string? value) =>
        value is { Length: > 0 and <= 64 } && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');

    /// <summary>A QMP command name such as <c>query-status</c> or <c>qmp_capabilities</c>.</summary>
    public static bool IsCommand(string? value) =>
        value is { Length: > 0 and <= 64 } && value.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_');
}
