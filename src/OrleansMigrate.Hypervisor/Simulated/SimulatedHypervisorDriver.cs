using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.PreCopy;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The embedded hypervisor: VMs whose memory is real bytes dirtied by a workload, migrated by our own
/// pre-copy engine over real TCP. One instance per host agent; two instances (in one process or two) make
/// a source and a destination host.
/// </summary>
public sealed class SimulatedHypervisorDriver : InProcessHypervisorDriver<SimulatedVm>
{
    /// <param name="hostName">Name of the host this driver stands for (diagnostics only).</param>
    /// <param name="timeProvider">Clock for pacing, timestamps and workload rates; <see cref="TimeProvider.System"/> by default.</param>
    public SimulatedHypervisorDriver(string hostName = "localhost", TimeProvider? timeProvider = null)
        : base(hostName, timeProvider, new HostedVms<SimulatedVm>(hostName, static vm => vm.ToInfo(), static vm => vm.Pause(), static vm => vm.Resume(), static vm => (vm.Outgoing, vm.Incoming)))
    {
    }

    public override string Kind => "simulated";

    /// <summary>The simulated VM behind an id, for checks the generic interface does not offer (verification, session table).</summary>
    public SimulatedVm GetSimulatedVm(string vmId) => Vms.Get(vmId);

    public override Task<VmInfo> CreateVmAsync(VmSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var vm = new SimulatedVm(spec, TimeProvider);
        try
        {
            Vms.Add(vm);
        }
        catch
        {
            vm.Dispose();
            throw;
        }

        return Task.FromResult(vm.ToInfo());
    }

    public override Task<VmInfo> StartVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var vm = GetSimulatedVm(vmId);
        // Booting writes every page once: a second or so for a large guest, so off the caller's thread.
        return Task.Run(() =>
        {
            vm.Start();
            return vm.ToInfo();
        }, cancellationToken);
    }

    public override Task<IIncomingMigration> PrepareIncomingAsync(string vmId, IncomingMigrationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var vm = GetSimulatedVm(vmId);
        vm.BeginIncoming();
        var incoming = PreCopyDestination.Listen(vm, options, TimeProvider);
        vm.Incoming = incoming;
        return Task.FromResult<IIncomingMigration>(incoming);
    }

    public override async Task<IOutgoingMigration> StartOutgoingAsync(string vmId, MigrationEndpoint destination, MigrationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var vm = Vms.ForOutgoing(vmId);
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
    public override Task<DirtyRateSample> SampleDirtyRateAsync(string vmId, TimeSpan window, CancellationToken cancellationToken = default)
    {
        if (window <= TimeSpan.Zero || window > TimeSpan.FromMinutes(1))
            throw new ArgumentOutOfRangeException(nameof(window), window, "The sampling window must be more than 0 and at most 1 minute.");
        return GetSimulatedVm(vmId).SampleDirtyRateAsync(window, TimeProvider, cancellationToken);
    }
}
