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
    }

    /// <summary>Destroys every VM.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var vmId in Vms.Ids())
            await DestroyVmAsync(vmId).ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
