using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Tests.Support;

/// <summary>Small guests for tests.</summary>
internal static class Guests
{
    public static VmSpec Spec(string vmId, int mib, double dirtyMBps = 0, ContentMix? content = null, SessionChurnOptions? sessions = null, GuestWorkloadOptions? workload = null) => new()
    {
        VmId = vmId,
        MemoryMiB = mib,
        VCpuCount = 2,
        Simulation = new SimulatedGuestOptions
        {
            Content = content ?? ContentMix.Default,
            Workload = workload ?? (dirtyMBps > 0 ? new GuestWorkloadOptions { DirtyMegabytesPerSecond = dirtyMBps } : null),
            Sessions = sessions ?? new SessionChurnOptions { InitialSessions = 512, ChurnPerSecond = 1000 },
        },
    };

    /// <summary>Options for a 1 Gb/s link, so a test can act while the bulk round is still on the wire.</summary>
    public static MigrationOptions SlowLink(CompressionMode mode = CompressionMode.Final) => new()
    {
        LinkBandwidthBytesPerSecond = 125_000_000,
        Compression = mode,
    };
}
