namespace OrleansMigrate.Grains.Cloud;

/// <summary>
/// Latencies of the simulated cloud backends (<see cref="SimulatedCloudDiskBackend"/>,
/// <see cref="SimulatedNetworkManagerBackend"/>). The defaults are those of a production cloud, slow where
/// the real services are slow, so the migration's pre-staging and postponing are measured against the right
/// costs; tests set a few milliseconds. Every latency is 0–<see cref="MaxLatencyMs"/> ms, and a whole flow
/// install (<see cref="FlowsPerNic"/> × <see cref="FlowInstallMsPerFlow"/>) at most
/// <see cref="MaxLatencyMs"/> ms, so a single backend action stays inside Orleans' 30 s call timeout.
/// Checked at silo start by <see cref="CloudBackendOptionsValidator"/>.
/// </summary>
public sealed class CloudBackendOptions
{
    /// <summary>Upper bound of every latency and of a whole flow install: 20,000 ms.</summary>
    public const int MaxLatencyMs = 20_000;

    /// <summary>Upper bound of <see cref="FlowsPerNic"/>.</summary>
    public const int MaxFlowsPerNic = 10_000;

    public const int DefaultDiskOpenReadOnlyMs = 200;
    public const int DefaultDiskPauseMs = 1;
    public const int DefaultDiskReopenReadWriteMs = 5;
    public const int DefaultDiskUnpauseMs = 1;
    public const int DefaultDiskCloseMs = 2_000;
    public const int DefaultRelayStageMs = 20;
    public const int DefaultRelaySwitchMs = 1;
    public const int DefaultRelayRemoveMs = 20;
    public const int DefaultFlowInstallMsPerFlow = 20;
    public const int DefaultFlowsPerNic = 30;

    /// <summary>Opening a disk read-only on a host, ms (metadata negotiation with the store); default 200.
    /// A read-write open of a host without a handle costs this plus <see cref="DiskReopenReadWriteMs"/>.</summary>
    public int DiskOpenReadOnlyMs { get; set; } = DefaultDiskOpenReadOnlyMs;

    /// <summary>Pausing a read-write handle (blocking its I/O), ms; default 1.</summary>
    public int DiskPauseMs { get; set; } = DefaultDiskPauseMs;

    /// <summary>Reopening an open handle read-write at a new fencing generation, ms; default 5.</summary>
    public int DiskReopenReadWriteMs { get; set; } = DefaultDiskReopenReadWriteMs;

    /// <summary>Un-pausing a paused handle, ms; default 1.</summary>
    public int DiskUnpauseMs { get; set; } = DefaultDiskUnpauseMs;

    /// <summary>Closing a handle, ms (metadata negotiation); default 2,000.</summary>
    public int DiskCloseMs { get; set; } = DefaultDiskCloseMs;

    /// <summary>Whether the simulated block store fences: granting a newer generation blocks the superseded writer's
    /// I/O, so a switchover hands a disk over in one action. False simulates a store without fencing (the writer is
    /// paused first, then the destination promoted: two actions inside the downtime). Default true.</summary>
    public bool DiskFencing { get; set; } = true;

    /// <summary>Staging a disabled relay route through the network manager, ms; default 20.</summary>
    public int RelayStageMs { get; set; } = DefaultRelayStageMs;

    /// <summary>Enabling or disabling a staged relay, ms; default 1.</summary>
    public int RelaySwitchMs { get; set; } = DefaultRelaySwitchMs;

    /// <summary>Removing a relay route, ms; default 20.</summary>
    public int RelayRemoveMs { get; set; } = DefaultRelayRemoveMs;

    /// <summary>Installing one flow on a host, ms; default 20. A NIC's flows are installed one by one.</summary>
    public int FlowInstallMsPerFlow { get; set; } = DefaultFlowInstallMsPerFlow;

    /// <summary>Flows per NIC (a VM has tens), 1–<see cref="MaxFlowsPerNic"/>; default 30.</summary>
    public int FlowsPerNic { get; set; } = DefaultFlowsPerNic;

    /// <summary>The production latencies multiplied by <paramref name="factor"/> (0.1: ten times faster; benchmarks that
    /// run many migrations or accelerate time), the flow count unchanged.</summary>
    public static CloudBackendOptions Scaled(double factor)
    {
        int S(int ms) => (int)Math.Round(ms * factor);
        return new CloudBackendOptions
        {
            DiskOpenReadOnlyMs = S(DefaultDiskOpenReadOnlyMs),
            DiskPauseMs = S(DefaultDiskPauseMs),
            DiskReopenReadWriteMs = S(DefaultDiskReopenReadWriteMs),
            DiskUnpauseMs = S(DefaultDiskUnpauseMs),
            DiskCloseMs = S(DefaultDiskCloseMs),
            RelayStageMs = S(DefaultRelayStageMs),
            RelaySwitchMs = S(DefaultRelaySwitchMs),
            RelayRemoveMs = S(DefaultRelayRemoveMs),
            FlowInstallMsPerFlow = S(DefaultFlowInstallMsPerFlow),
        };
    }

    /// <summary>The time one flow install takes: <see cref="FlowsPerNic"/> × <see cref="FlowInstallMsPerFlow"/>.</summary>
    public TimeSpan FlowInstallTime => TimeSpan.FromMilliseconds((long)FlowsPerNic * FlowInstallMsPerFlow);
}
