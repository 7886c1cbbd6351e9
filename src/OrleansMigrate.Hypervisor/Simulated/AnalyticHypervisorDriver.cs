using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The scale-simulation hypervisor: VMs whose memory is modelled, not allocated (a VM costs a few hundred bytes
/// whatever its size), migrated by an analytic model of our pre-copy engine with accelerated time (see
/// <see cref="AnalyticOutgoingMigration"/>): a modelled second of transfer takes 1/<see cref="TimeAcceleration"/>
/// of a wall second, with no bytes, no sockets and no thread per VM. Thousands of instances (one per host) fit in
/// one process; the migration grains and policies run on them unchanged.
/// </summary>
/// <remarks>
/// Source and destination must live in the same process: an incoming migration listens at a synthetic endpoint
/// (host <c>analytic</c>, a unique port) in a process-wide registry, where the source finds it. A VM's size is
/// <see cref="VmSpec.MemoryMiB"/> (up to <see cref="MaxMemoryMiB"/> here), its dirty rate and working set come from
/// <see cref="VmSpec.Simulation"/> as the simulated driver reads them. Downtimes and durations it reports are
/// modelled time (see <see cref="AnalyticClock"/>); wall-clock fields (<c>…AtUtc</c>) stay wall-clock.
/// </remarks>
public sealed class AnalyticHypervisorDriver : InProcessHypervisorDriver<AnalyticVm>
{
    /// <summary>Default time acceleration: a modelled second of transfer takes a wall millisecond.</summary>
    public const double DefaultTimeAcceleration = 1000;

    /// <summary>Lowest accepted time acceleration (real time).</summary>
    public const double MinTimeAcceleration = 1;

    /// <summary>Highest accepted time acceleration.</summary>
    public const double MaxTimeAcceleration = 1_000_000;

    /// <summary>Largest modelled VM, in MiB (4 TiB): nothing is allocated, so the simulated driver's 16 GiB bound does not apply.</summary>
    public const int MaxMemoryMiB = 4 << 20;

    /// <param name="hostName">Name of the host this driver stands for (diagnostics only).</param>
    /// <param name="timeAcceleration">Modelled time per wall time inside transfers, <see cref="MinTimeAcceleration"/>..<see cref="MaxTimeAcceleration"/>.</param>
    /// <param name="timeProvider">Wall clock for timers and timestamps; <see cref="TimeProvider.System"/> by default.</param>
    public AnalyticHypervisorDriver(string hostName = "localhost", double timeAcceleration = DefaultTimeAcceleration, TimeProvider? timeProvider = null)
        : base(hostName, timeProvider, new HostedVms<AnalyticVm>(hostName, static vm => vm.ToInfo(), static vm => vm.Pause(), static vm => vm.Resume(), static vm => (vm.Outgoing, vm.Incoming)))
    {
        if (!double.IsFinite(timeAcceleration) || timeAcceleration is < MinTimeAcceleration or > MaxTimeAcceleration)
            throw new ArgumentOutOfRangeException(nameof(timeAcceleration), timeAcceleration, $"The time acceleration must be {MinTimeAcceleration}..{MaxTimeAcceleration}.");
        TimeAcceleration = timeAcceleration;
    }

    public override string Kind => "analytic";

    /// <summary>Modelled time per wall time inside a modelled transfer (1000: a modelled second takes 1 ms).</summary>
    public double TimeAcceleration { get; }

    /// <summary>The modelled VM behind an id.</summary>
    public AnalyticVm GetAnalyticVm(string vmId) => Vms.Get(vmId);

    public override Task<VmInfo> CreateVmAsync(VmSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrWhiteSpace(spec.VmId);
        if (spec.MemoryMiB is < 1 or > MaxMemoryMiB)
            throw new ArgumentException($"MemoryMiB must be in 1..{MaxMemoryMiB}, was {spec.MemoryMiB}.", nameof(spec));
        if (spec.VCpuCount is < 1 or > 256)
            throw new ArgumentException($"VCpuCount must be in 1..256, was {spec.VCpuCount}.", nameof(spec));
        spec.Simulation?.Validate(spec.MemoryMiB);
        var vm = new AnalyticVm(spec);
        Vms.Add(vm);
        return Task.FromResult(vm.ToInfo());
    }

    public override Task<VmInfo> StartVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var vm = GetAnalyticVm(vmId);
        vm.Start();
        return Task.FromResult(vm.ToInfo());
    }

    /// <summary>The model's own figures: the VM's configured dirty rate and working set, without waiting out the window
    /// (a modelled VM has nothing to measure).</summary>
    public override Task<DirtyRateSample> SampleDirtyRateAsync(string vmId, TimeSpan window, CancellationToken cancellationToken = default)
    {
        var vm = GetAnalyticVm(vmId);
        return Task.FromResult(new DirtyRateSample(vmId, DirtyRateMethods.AnalyticModel, vm.DirtyBytesPerSecond, window.TotalMilliseconds, vm.PageCount * AnalyticVm.PageSize,
            (long)(vm.DirtyBytesPerSecond * window.TotalSeconds), vm.WorkingSetPages * AnalyticVm.PageSize, null, null, "modelled, not measured"));
    }

    /// <summary>Listens at a synthetic endpoint (host <c>analytic</c>); <see cref="IncomingMigrationOptions.ListenAddress"/> and the port are ignored.</summary>
    public override Task<IIncomingMigration> PrepareIncomingAsync(string vmId, IncomingMigrationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var vm = GetAnalyticVm(vmId);
        vm.BeginIncoming();
        var incoming = new AnalyticIncomingMigration(vm, options, TimeProvider);
        vm.Incoming = incoming;
        return Task.FromResult<IIncomingMigration>(incoming);
    }

    public override Task<IOutgoingMigration> StartOutgoingAsync(string vmId, MigrationEndpoint destination, MigrationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var vm = Vms.ForOutgoing(vmId);
        var outgoing = AnalyticOutgoingMigration.Start(vm, destination, options, TimeProvider, TimeAcceleration);
        vm.Outgoing = outgoing;
        return Task.FromResult<IOutgoingMigration>(outgoing);
    }
}
