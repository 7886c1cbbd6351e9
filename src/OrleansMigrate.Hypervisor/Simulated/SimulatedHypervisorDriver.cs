using System.Collections.Concurrent;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.PreCopy;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The embedded hypervisor: VMs whose memory is real bytes dirtied by a workload, migrated by our own
/// pre-copy engine over real TCP. One instance per host agent; two instances (in one process or two) make
/// a source and a destination host.
/// </summary>
public sealed class SimulatedHypervisorDriver : IHypervisorDriver
{
    private readonly ConcurrentDictionary<string, SimulatedVm> _vms = new(StringComparer.Ordinal);

    /// <param name="hostName">Name of the host this driver stands for (diagnostics only).</param>
    /// <param name="timeProvider">Clock for pacing, timestamps and workload rates; <see cref="TimeProvider.System"/> by default.</param>
    public SimulatedHypervisorDriver(string hostName = "localhost", TimeProvider? timeProvider = null)
    {
        HostName = hostName;
        TimeProvider = timeProvider ?? TimeProvider.System;
    }

    public string Kind => "simulated";

    public string HostName { get; }

    /// <summary>The clock whose <see cref="TimeProvider.GetTimestamp"/> ticks every timestamp of this driver uses.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>The simulated VM behind an id, for checks the generic interface does not offer (verification, session table).</summary>
    public SimulatedVm GetSimulatedVm(string vmId) => _vms.TryGetValue(vmId, out var vm) ? vm : throw new VmNotFoundException(vmId);

    public Task<VmInfo> CreateVmAsync(VmSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var vm = new SimulatedVm(spec, TimeProvider);
        if (!_vms.TryAdd(spec.VmId, vm))
        {
            vm.Dispose();
            throw new InvalidOperationException($"VM '{spec.VmId}' already exists on host {HostName}.");
        }

        return Task.FromResult(vm.ToInfo());
    }

    public Task<VmInfo> StartVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var vm = GetSimulatedVm(vmId);
        // Booting writes every page once: a second or so for a large guest, so off the caller's thread.
        return Task.Run(() =>
        {
            vm.Start();
            return vm.ToInfo();
        }, cancellationToken);
    }

    public Task<VmInfo> GetVmAsync(string vmId, CancellationToken cancellationToken = default) => Task.FromResult(GetSimulatedVm(vmId).ToInfo());

    public Task<IReadOnlyList<VmInfo>> ListVmsAsync(CancellationToken cancellationToken = default)
        => Task.FromResult<IReadOnlyList<VmInfo>>([.. _vms.Values.Select(vm => vm.ToInfo())]);

    public Task PauseVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var vm = GetSimulatedVm(vmId);
        if (vm.ToInfo().HasActiveMigration)
            throw new InvalidOperationException($"VM '{vmId}' is migrating; pause it through the migration.");
        vm.Pause();
        return Task.CompletedTask;
    }

    public Task ResumeVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        GetSimulatedVm(vmId).Resume();
        return Task.CompletedTask;
    }

    public Task<IIncomingMigration> PrepareIncomingAsync(string vmId, IncomingMigrationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var vm = GetSimulatedVm(vmId);
        vm.BeginIncoming();
        var incoming = PreCopyDestination.Listen(vm, options, TimeProvider);
        vm.Incoming = incoming;
        return Task.FromResult<IIncomingMigration>(incoming);
    }

    public async Task<IOutgoingMigration> StartOutgoingAsync(string vmId, MigrationEndpoint destination, MigrationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var vm = GetSimulatedVm(vmId);
        var info = vm.ToInfo();
        if (info.State != VmState.Running || info.HasActiveMigration)
            throw new InvalidOperationException($"VM '{vmId}' must be running with no migration in progress to migrate out; it is {info.State}.");
        var outgoing = await PreCopySource.StartAsync(vm, destination, options, TimeProvider, cancellationToken).ConfigureAwait(false);
        vm.Outgoing = outgoing;
        return outgoing;
    }

    /// <summary>
    /// Samples from the guest's own counters (page-write counter and generation vector; method
    /// <see cref="DirtyRateMethods.SimulatedCounters"/>). A migration in flight on the VM is not disturbed: its
    /// dirty bitmap is neither read nor cleared. The rate is page writes × 4096 per second, the working set is
    /// estimated from repeat writes, and the zero-page share and LZ4 ratio come from reading guest memory.
    /// </summary>
    public Task<DirtyRateSample> SampleDirtyRateAsync(string vmId, TimeSpan window, CancellationToken cancellationToken = default)
    {
        if (window <= TimeSpan.Zero || window > TimeSpan.FromMinutes(1))
            throw new ArgumentOutOfRangeException(nameof(window), window, "The sampling window must be more than 0 and at most 1 minute.");
        return GetSimulatedVm(vmId).SampleDirtyRateAsync(window, TimeProvider, cancellationToken);
    }

    public async Task DestroyVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        if (!_vms.TryRemove(vmId, out var vm))
            return;
        if (vm.Outgoing is { } outgoing)
            await outgoing.DisposeAsync().ConfigureAwait(false);
        if (vm.Incoming is { } incoming)
            await incoming.DisposeAsync().ConfigureAwait(false);
        vm.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var vmId in _vms.Keys.ToArray())
            await DestroyVmAsync(vmId).ConfigureAwait(false);
    }
}
