using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Hypervisor.Simulated;
using HvVmSpec = OrleansMigrate.Hypervisor.Drivers.VmSpec;

namespace OrleansMigrate.Grains.Agents;

/// <summary>
/// The host runtime over <see cref="IHypervisorDriver"/>: one hypervisor driver (simulated, QEMU or analytic per
/// <see cref="HostRuntimeOptions.Driver"/>) per host this silo serves, and the in-flight migrations by id. Every migration call is idempotent: a replay finds the
/// migration it started, or the finished result it cached.
/// </summary>
public sealed partial class DriverHostRuntime(IOptions<HostRuntimeOptions> options, IFaultInjector faults, ILogger<DriverHostRuntime> logger) : IHostRuntime, IAsyncDisposable
{
    private readonly HostRuntimeOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, IHypervisorDriver> _drivers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IOutgoingMigration> _outgoing = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IIncomingMigration> _incoming = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<FinalCopyReport>>> _finalCopies = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<ResumeReport>>> _resumes = new(StringComparer.Ordinal);

    // One lifecycle lock per VM, not per silo: resuming one VM's destination must never queue behind another VM's
    // prepare, final copy or completion on the same host (that wait lands inside the first VM's downtime). Every
    // lifecycle operation concerns exactly one VM, so none needs a host-wide lock.
    private readonly VmLocks _lifecycle = new();

    /// <summary>VM ids with a lifecycle lock held or awaited now.</summary>
    internal int LockedVms => _lifecycle.Count;

    public string DriverName => Naming.EnumNames.Of(_options.Driver);

    private bool IsQemu => _options.Driver == HypervisorKind.Qemu;

    private bool IsAnalytic => _options.Driver == HypervisorKind.Analytic;

    private IHypervisorDriver Driver(string hostId) => _drivers.GetOrAdd(hostId, h =>
        IsQemu ? Qemu(h)
        : IsAnalytic ? new AnalyticHypervisorDriver(h, _options.TimeAcceleration)
        : new SimulatedHypervisorDriver(h));

    /// <summary>A QEMU driver; which accelerator its guests get (and why) is decided now and logged once known.</summary>
    private QemuHypervisorDriver Qemu(string hostId)
    {
        var driver = new QemuHypervisorDriver(hostId, _options.Qemu);
        _ = driver.ResolveAcceleratorAsync().ContinueWith(
            t => LogAccelerator(logger, hostId, t.Result.Accelerator, t.Result.Reason),
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        return driver;
    }

    private HvVmSpec Spec(OrleansMigrate.Fleet.VmSpec vm, IReadOnlyDictionary<string, OrleansMigrate.Fleet.BlockDeviceAttachment>? disks = null) =>
        IsQemu ? QemuVmSpecs.From(vm, _options.TapNics, disks, ConsoleDirectory()) : SimulatedVmSpecs.From(vm, _options, modelled: IsAnalytic);

    /// <summary>QEMU hosts attach a VM's cloud disks over the network when the block store serves them so.</summary>
    public bool AttachesCloudDisks => IsQemu;

    /// <summary>Where Linux guests' serial consoles go: the QEMU runtime directory's <c>console</c>.</summary>
    private string ConsoleDirectory() => Directory.CreateDirectory(Path.Combine(_options.Qemu.RuntimeDirectory, "console")).FullName;

    /// <summary>Makes the VM's NICs on this host (QEMU with <c>Cloud:Network:VmNics=tap</c>): a routed tap per NIC in this
    /// process's network namespace, before QEMU opens it.</summary>
    private async Task AttachNicsAsync(OrleansMigrate.Fleet.VmSpec vm)
    {
        if (!IsQemu || !_options.TapNics)
        {
            return;
        }

        for (var i = 0; i < vm.Nics.Length; i++)
        {
            try
            {
                await Lab.VmNicAttachment.AttachAsync(null, Lab.VmNicAttachment.TapName(vm.VmId, i), vm.Nics[i].Ip);
            }
            catch (ArgumentException ex)
            {
                throw OmigException.Invalid($"nics[{i.ToString(System.Globalization.CultureInfo.InvariantCulture)}]", ArgumentMessages.Reason(ex));
            }
            catch (Hypervisor.Linux.HostCommandException ex)
            {
                throw OmigException.Unavailable("host", $"cannot attach NIC {i.ToString(System.Globalization.CultureInfo.InvariantCulture)} of VM '{vm.VmId}': {ex.Message}");
            }
        }
    }

    /// <summary>Removes the VM's taps from this host (the VM left it, or never ran here); none left is no error.</summary>
    private async Task DetachNicsAsync(string vmId)
    {
        if (!IsQemu || !_options.TapNics)
        {
            return;
        }

        // One listing of this namespace's links, then a delete per tap of this VM that is there: not a probe per NIC slot.
        IReadOnlyList<string> links;
        try
        {
            links = await Lab.Ip.LinkNamesAsync(null);
        }
        catch (Hypervisor.Linux.HostCommandException ex)
        {
            LogDetachFailed(logger, vmId, ex.Message);
            return;
        }

        var present = links.ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < Hypervisor.Qemu.QemuHypervisorDriver.MaxNics; i++)
        {
            var tap = Lab.VmNicAttachment.TapName(vmId, i);
            if (!present.Contains(tap))
            {
                continue;
            }

            try
            {
                await Lab.VmNicAttachment.DetachAsync(null, tap);
            }
            catch (Hypervisor.Linux.HostCommandException ex)
            {
                LogDetachFailed(logger, vmId, ex.Message);
            }
        }
    }

    public async Task<string?> VmDetailAsync(string hostId, string vmId) =>
        (await Driver(hostId).ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId)?.Detail;

    public async Task<OrleansMigrate.Migration.PreflightPrediction> PredictAsync(string hostId, string vmId, MigrationTuning tuning, TimeSpan sample)
    {
        DirtyRateSample measured;
        try
        {
            measured = await Driver(hostId).SampleDirtyRateAsync(vmId, sample);
        }
        catch (VmNotFoundException)
        {
            throw OmigException.NotFound("vm", $"VM '{vmId}' does not run on host '{hostId}'");
        }

        var p = MigrationPredictor.Predict(measured, ToOptions(tuning));
        return new OrleansMigrate.Migration.PreflightPrediction(measured.Method, measured.DirtyBytesPerSecond, measured.WindowMs, measured.MemoryBytes, p.Rounds, p.TotalMs, p.DowntimeMs,
            p.ConvergesWithoutThrottling, p.DowntimeWithinTarget, p.Outcome switch
            {
                MigrationPredictionOutcome.Converges => "converges",
                MigrationPredictionOutcome.ForcedSwitchover => "forced-switchover",
                _ => "fails",
            }, p.BytesSent, p.Reason);
    }

    public async Task<string> QmpAsync(string hostId, string vmId, string commandJson)
    {
        var driver = Driver(hostId);
        if (!driver.SupportsPassthrough)
        {
            throw OmigException.Invalid("command", $"host '{hostId}' runs the {DriverName} hypervisor: QMP needs a QEMU host");
        }

        try
        {
            return await driver.PassthroughAsync(vmId, commandJson);
        }
        catch (ArgumentException ex)
        {
            throw OmigException.Invalid("command", ArgumentMessages.Reason(ex));
        }
        catch (VmNotFoundException)
        {
            throw OmigException.NotFound("vm", $"VM '{vmId}' has no QEMU on host '{hostId}'");
        }
        catch (InvalidOperationException ex)
        {
            throw OmigException.Conflict("vm", ex.Message);
        }
        catch (Exception ex) when (ex is Hypervisor.Qmp.QmpConnectionException or Hypervisor.Qmp.QmpTimeoutException or QemuException)
        {
            throw OmigException.Unavailable("vm", $"QMP: {ex.Message}");
        }
    }

    public async Task<ImmutableArray<string>> RunningVmsAsync(string hostId)
    {
        var vms = await Driver(hostId).ListVmsAsync();
        return [.. vms.Where(v => v.State is VmState.Running or VmState.Paused).Select(v => v.Spec.VmId).Order(StringComparer.Ordinal)];
    }

    public async Task StartVmAsync(string hostId, OrleansMigrate.Fleet.VmSpec spec, IReadOnlyDictionary<string, OrleansMigrate.Fleet.BlockDeviceAttachment>? disks = null)
    {
        var driver = Driver(hostId);
        var held = await _lifecycle.AcquireAsync(spec.VmId);
        try
        {
            var existing = (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == spec.VmId);
            if (existing is { State: VmState.Running or VmState.Paused or VmState.Incoming })
            {
                return;
            }

            if (existing is not null)
            {
                await driver.DestroyVmAsync(spec.VmId);
            }

            try
            {
                var hv = Spec(spec, disks);
                await AttachNicsAsync(spec);
                await driver.CreateVmAsync(hv);
                await driver.StartVmAsync(spec.VmId);
            }
            catch (Exception ex) when (ex is ArgumentException or QemuException)
            {
                await driver.DestroyVmAsync(spec.VmId);
                await DetachNicsAsync(spec.VmId);
                throw ex is ArgumentException invalid ? OmigException.Invalid("image", ArgumentMessages.Reason(invalid)) : OmigException.Unavailable("hypervisor", ex.Message);
            }
        }
        finally
        {
            held.Dispose();
        }
    }

    public async Task DestroyVmAsync(string hostId, string vmId)
    {
        await Driver(hostId).DestroyVmAsync(vmId);
        await DetachNicsAsync(vmId);
    }

    public async Task<HypervisorVmState?> VmStateAsync(string hostId, string vmId) =>
        (await Driver(hostId).ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId)?.State switch
        {
            null => null,
            VmState.Created => HypervisorVmState.Created,
            VmState.Running => HypervisorVmState.Running,
            VmState.Paused => HypervisorVmState.Paused,
            VmState.Incoming => HypervisorVmState.Incoming,
            VmState.PostMigrate => HypervisorVmState.Postmigrate,
            VmState.Failed => HypervisorVmState.Failed,
            VmState.Lost => HypervisorVmState.Lost,
            var other => throw new InvalidOperationException($"the driver reported VM state {other}, which the agent does not know"),
        };

    public async ValueTask DisposeAsync()
    {
        foreach (var driver in _drivers.Values)
        {
            await driver.DisposeAsync();
        }
    }

    /// <summary>The driver's options for a migration with tuning <paramref name="t"/>.</summary>
    internal static MigrationOptions ToOptions(MigrationTuning t) => new()
    {
        DowntimeTargetMs = t.DowntimeTargetMs,
        LinkBandwidthBytesPerSecond = t.LinkBandwidthBytesPerSecond,
        Compression = t.Compression switch
        {
            CompressionScope.None => CompressionMode.None,
            CompressionScope.All => CompressionMode.All,
            CompressionScope.Final => CompressionMode.Final,
            _ => throw new ArgumentOutOfRangeException(nameof(t), t.Compression, "unknown compression scope"),
        },
        PreLastCopy = new PreLastCopyOptions { Enabled = t.PreLastCopy },
        MaxRounds = t.MaxRounds,
        MaxPreCopyMs = t.MaxPreCopyMs,
        LimitAction = t.OnTimeout == TimeoutAction.Abort ? PreCopyLimitAction.Fail : PreCopyLimitAction.ForceSwitchover,
        LimitSource = t.Policy is null ? null : $"policy '{t.Policy}'",
        AutoConverge = t.AutoConverge,
        MigrationChannels = Channels(t),
        PostCopy = t.PostCopy,
    };

    /// <summary>The tuning's migration channels; 0, from a sender that predates the field, is one stream.</summary>
    internal static int Channels(MigrationTuning? t) => t is { MigrationChannels: > 0 } ? t.MigrationChannels : 1;

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "VM {VmId}: a tap could not be removed from this host: {Reason}")]
    private static partial void LogDetachFailed(ILogger logger, string vmId, string reason);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Host {HostId}: QEMU guests run under {Accelerator}: {Reason}")]
    private static partial void LogAccelerator(ILogger logger, string hostId, string accelerator, string reason);
}
