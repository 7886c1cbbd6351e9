using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Tests.Simulated;

/// <summary>Two analytic hosts in this process, and analytic guests.</summary>
internal sealed class AnalyticHosts(double acceleration = AnalyticHypervisorDriver.DefaultTimeAcceleration) : IAsyncDisposable
{
    public AnalyticHypervisorDriver Source { get; } = new("analytic-src", acceleration);

    public AnalyticHypervisorDriver Destination { get; } = new("analytic-dst", acceleration);

    public static VmSpec Spec(string vmId, int mib, double dirtyMBps = 0, int hotSetMiB = 0) => new()
    {
        VmId = vmId,
        MemoryMiB = mib,
        Simulation = new SimulatedGuestOptions
        {
            Workload = dirtyMBps > 0
                ? new GuestWorkloadOptions { DirtyMegabytesPerSecond = dirtyMBps, Pattern = hotSetMiB > 0 ? DirtyPattern.HotSet : DirtyPattern.Uniform, HotSetMiB = hotSetMiB > 0 ? hotSetMiB : 64 }
                : null,
        },
    };

    public async Task<AnalyticVm> BootAsync(VmSpec spec)
    {
        await Source.CreateVmAsync(spec);
        await Source.StartVmAsync(spec.VmId);
        return Source.GetAnalyticVm(spec.VmId);
    }

    /// <summary>Creates the destination VM, prepares it and starts the outgoing side, as the orchestrator does.</summary>
    public async Task<(IIncomingMigration Incoming, IOutgoingMigration Outgoing)> StartAsync(VmSpec spec, MigrationOptions options)
    {
        await Destination.CreateVmAsync(spec);
        var incoming = await Destination.PrepareIncomingAsync(spec.VmId, new IncomingMigrationOptions { VerifyConsistency = true });
        var outgoing = await Source.StartOutgoingAsync(spec.VmId, incoming.Endpoint, options);
        return (incoming, outgoing);
    }

    public async ValueTask DisposeAsync()
    {
        await Source.DisposeAsync();
        await Destination.DisposeAsync();
    }
}
