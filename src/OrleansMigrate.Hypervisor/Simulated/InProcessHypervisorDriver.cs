using System.Collections.Concurrent;
using System.Collections.Immutable;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// What the two in-process hypervisors (<see cref="SimulatedHypervisorDriver"/>: real guest memory over TCP;
/// <see cref="AnalyticHypervisorDriver"/>: modelled memory and time) share: their VMs by id, listing, pause and resume
/// outside a migration, and destruction. Not for deriving outside this assembly.
/// </summary>
/// <typeparam name="TVm">The driver's VM.</typeparam>
public abstract class InProcessHypervisorDriver<TVm> : IHypervisorDriver
    where TVm : class
{
    private protected InProcessHypervisorDriver(string hostName, TimeProvider? timeProvider, HostedVms<TVm> vms)
    {
        HostName = hostName;
        TimeProvider = timeProvider ?? TimeProvider.System;
        Vms = vms;
    }

    /// <inheritdoc/>
    public abstract string Kind { get; }

    /// <inheritdoc/>
    public string HostName { get; }

    /// <summary>The clock whose <see cref="TimeProvider.GetTimestamp"/> ticks every timestamp of this driver is based on.</summary>
    public TimeProvider TimeProvider { get; }

    private protected HostedVms<TVm> Vms { get; }

    /// <summary>How long the model takes to unplug a VF: the guest's driver unbinding it and the host taking it back.</summary>
    public static readonly TimeSpan ModelledUnplugLatency = TimeSpan.FromMilliseconds(25);

    /// <summary>How long the model takes to plug a VF: the host assigning it and the guest's driver binding it.</summary>
    public static readonly TimeSpan ModelledPlugLatency = TimeSpan.FromMilliseconds(60);

    private readonly ConcurrentDictionary<string, ImmutableHashSet<string>> _plugged = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> PluggedDevicesAsync(string vmId, CancellationToken cancellationToken = default)
    {
        Vms.Get(vmId);
        return Task.FromResult<IReadOnlyList<string>>([.. _plugged.GetValueOrDefault(vmId, []).Order(StringComparer.Ordinal)]);
    }

    /// <summary>Modelled: waits <see cref="ModelledPlugLatency"/> on this driver's clock, then records the device plugged.</summary>
    public async Task PlugDeviceAsync(string vmId, string deviceId, CancellationToken cancellationToken = default)
    {
        RequireDevice(vmId, deviceId);
        if (_plugged.GetValueOrDefault(vmId, []).Contains(deviceId))
            return;
        await Task.Delay(ModelledPlugLatency, TimeProvider, cancellationToken).ConfigureAwait(false);
        Vms.Get(vmId);
        _plugged.AddOrUpdate(vmId, _ => [deviceId], (_, set) => set.Add(deviceId));
    }

    /// <summary>Modelled: waits <see cref="ModelledUnplugLatency"/> on this driver's clock, then records the device gone.</summary>
    public async Task UnplugDeviceAsync(string vmId, string deviceId, CancellationToken cancellationToken = default)
    {
        RequireDevice(vmId, deviceId);
        if (!_plugged.GetValueOrDefault(vmId, []).Contains(deviceId))
            return;
        await Task.Delay(ModelledUnplugLatency, TimeProvider, cancellationToken).ConfigureAwait(false);
        _plugged.AddOrUpdate(vmId, _ => [], (_, set) => set.Remove(deviceId));
    }

    private void RequireDevice(string vmId, string deviceId)
    {
        if (!Vms.Info(vmId).Spec.HotplugDevices.Contains(deviceId, StringComparer.Ordinal))
            throw new ArgumentException($"VM '{vmId}' has no hot-pluggable device '{deviceId}'", nameof(deviceId));
    }

    /// <inheritdoc/>
    public abstract Task<VmInfo> CreateVmAsync(VmSpec spec, CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public abstract Task<VmInfo> StartVmAsync(string vmId, CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public abstract Task<DirtyRateSample> SampleDirtyRateAsync(string vmId, TimeSpan window, CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public abstract Task<IIncomingMigration> PrepareIncomingAsync(string vmId, IncomingMigrationOptions options, CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public abstract Task<IOutgoingMigration> StartOutgoingAsync(string vmId, MigrationEndpoint destination, MigrationOptions options, CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public Task<VmInfo> GetVmAsync(string vmId, CancellationToken cancellationToken = default) => Task.FromResult(Vms.Info(vmId));

    /// <inheritdoc/>
    public Task<IReadOnlyList<VmInfo>> ListVmsAsync(CancellationToken cancellationToken = default) => Task.FromResult(Vms.List());

    /// <inheritdoc/>
    public Task PauseVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        Vms.Pause(vmId);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task ResumeVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        Vms.Resume(vmId);
        return Task.CompletedTask;
    }

    /// <summary>The modelled guest honours the power-down request at once, unless its spec says it ignores ACPI
    /// (<see cref="SimulatedGuestOptions.IgnoresPowerDown"/>, like the QEMU boot-sector guest): then the whole timeout
    /// passes on this driver's clock before the hard stop.</summary>
    public async Task<ShutdownResult> ShutdownVmAsync(string vmId, TimeSpan gracefulTimeout, CancellationToken cancellationToken = default)
    {
        var info = Vms.Info(vmId);
        if (info.State != VmState.Running || info.HasActiveMigration)
            throw new InvalidOperationException($"VM '{vmId}' must be running with no migration in progress to shut down; it is {info.State}.");
        var started = TimeProvider.GetTimestamp();
        var graceful = info.Spec.Simulation?.IgnoresPowerDown != true;
        if (!graceful && gracefulTimeout > TimeSpan.Zero)
            await Task.Delay(gracefulTimeout, TimeProvider, cancellationToken).ConfigureAwait(false);
        await DestroyVmAsync(vmId, cancellationToken).ConfigureAwait(false);
        return new ShutdownResult(graceful, TimeProvider.GetElapsedTime(started));
    }

    /// <summary>Removes the VM; a migration it is in is cancelled (outgoing) or aborted (incoming) first. No effect on an unknown id.</summary>
    public async Task DestroyVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        if (await Vms.RemoveAsync(vmId).ConfigureAwait(false) is IDisposable disposable)
            disposable.Dispose();
        _plugged.TryRemove(vmId, out _);
    }

    /// <summary>Destroys every VM.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var vmId in Vms.Ids())
            await DestroyVmAsync(vmId).ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
