using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Tests.Support;

/// <summary>A source and a destination simulated host in one process, connected over loopback TCP.</summary>
internal sealed class TwoHosts : IAsyncDisposable
{
    public SimulatedHypervisorDriver Source { get; } = new("test-source");

    public SimulatedHypervisorDriver Destination { get; } = new("test-destination");

    /// <summary>Creates and boots a VM on the source host.</summary>
    public async Task<SimulatedVm> BootAsync(VmSpec spec)
    {
        await Source.CreateVmAsync(spec);
        await Source.StartVmAsync(spec.VmId);
        return Source.GetSimulatedVm(spec.VmId);
    }

    /// <summary>Creates the VM on the destination host and makes it listen for the stream.</summary>
    public async Task<IIncomingMigration> PrepareDestinationAsync(VmSpec spec, IncomingMigrationOptions? options = null)
    {
        await Destination.CreateVmAsync(spec);
        return await Destination.PrepareIncomingAsync(spec.VmId, options ?? new IncomingMigrationOptions { VerifyConsistency = true });
    }

    public async ValueTask DisposeAsync()
    {
        await Source.DisposeAsync();
        await Destination.DisposeAsync();
    }
}
