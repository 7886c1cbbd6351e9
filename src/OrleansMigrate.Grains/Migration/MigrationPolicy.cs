using OrleansMigrate.Agents;

namespace OrleansMigrate.Migration;

/// <summary>How one class of VMs is migrated.</summary>
public sealed record MigrationPolicy
{
    public required string Name { get; init; }

    /// <summary>Downtime the pre-last-copy stage aims for, in ms.</summary>
    public double DowntimeTargetMs { get; init; } = 20;

    /// <summary>Migration link cap, bytes/s; default 10 Gb/s.</summary>
    public long LinkBandwidthBytesPerSecond { get; init; } = 1_250_000_000;

    public string Compression { get; init; } = "final";

    /// <summary>Allow a destination whose hypervisor or firmware version is older than the source's.</summary>
    public bool AllowOlderVersion { get; init; }

    /// <summary>Pre-copy budget per GiB of guest memory, in ms; on expiry <see cref="OnTimeout"/> applies.</summary>
    public double CompletionTimeoutMsPerGiB { get; init; } = 30_000;

    /// <summary>No progress (bytes remaining not shrinking) for this long counts as a stall, in ms.</summary>
    public double StallMs { get; init; } = 10_000;

    /// <summary><c>abort</c> (roll back) or <c>force</c> (switch over now, accepting a longer downtime).</summary>
    public string OnTimeout { get; init; } = "force";

    /// <summary>On a stall: <c>abort</c>, or <c>escalate</c> (double the downtime target, up to <see cref="MaxDowntimeTargetMs"/>, then force).</summary>
    public string OnStall { get; init; } = "escalate";

    public double MaxDowntimeTargetMs { get; init; } = 500;

    /// <summary>Let the hypervisor throttle the guest's vCPUs when pre-copy does not converge (QEMU auto-converge).</summary>
    public bool AutoConverge { get; init; }

    public MigrationTuning Tuning(int guestMiB) => new(
        DowntimeTargetMs, LinkBandwidthBytesPerSecond, Compression, PreLastCopy: true, MaxRounds: 30,
        MaxPreCopyMs: Math.Max(1000, CompletionTimeoutMsPerGiB * Math.Max(1, guestMiB) / 1024.0), AutoConverge: AutoConverge);

    /// <summary>The built-in policies; <c>standard</c> is the default.</summary>
    public static readonly IReadOnlyDictionary<string, MigrationPolicy> BuiltIn = new Dictionary<string, MigrationPolicy>(StringComparer.Ordinal)
    {
        ["standard"] = new() { Name = "standard" },
        ["critical"] = new() { Name = "critical", DowntimeTargetMs = 50, OnStall = "abort", OnTimeout = "abort" },
        ["economy"] = new() { Name = "economy", DowntimeTargetMs = 100, LinkBandwidthBytesPerSecond = 125_000_000, OnStall = "escalate", MaxDowntimeTargetMs = 2000, AutoConverge = true },
        ["any-version"] = new() { Name = "any-version", AllowOlderVersion = true },
    };
}
