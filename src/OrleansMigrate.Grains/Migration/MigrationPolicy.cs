using OrleansMigrate.Agents;

namespace OrleansMigrate.Grains.Migration;

/// <summary>How one class of VMs is migrated.</summary>
public sealed record MigrationPolicy
{
    public required string Name { get; init; }

    /// <summary>Downtime the pre-last-copy stage aims for, in ms.</summary>
    public double DowntimeTargetMs { get; init; } = 20;

    /// <summary>Migration link cap, bytes/s; default 10 Gb/s.</summary>
    public long LinkBandwidthBytesPerSecond { get; init; } = 1_250_000_000;

    public CompressionScope Compression { get; init; } = CompressionScope.Final;

    /// <summary>Allow a destination whose hypervisor or firmware version is older than the source's.</summary>
    public bool AllowOlderVersion { get; init; }

    /// <summary>Pre-copy budget per GiB of guest memory, in ms; on expiry <see cref="OnTimeout"/> applies. Both reach the host's
    /// data plane through <see cref="Tuning"/>, which alone decides at the limit.</summary>
    public double CompletionTimeoutMsPerGiB { get; init; } = 30_000;

    /// <summary>No progress (bytes remaining not shrinking) for this long counts as a stall, in ms.</summary>
    public double StallMs { get; init; } = 10_000;

    /// <summary>Abort (roll back) or force (switch over now, accepting a longer downtime).</summary>
    public TimeoutAction OnTimeout { get; init; } = TimeoutAction.Force;

    /// <summary>On a stall: abort, or escalate (double the downtime target, up to <see cref="MaxDowntimeTargetMs"/>, then force).</summary>
    public StallAction OnStall { get; init; } = StallAction.Escalate;

    public double MaxDowntimeTargetMs { get; init; } = 500;

    /// <summary>Let the hypervisor throttle the guest's vCPUs when pre-copy does not converge (QEMU auto-converge).</summary>
    public bool AutoConverge { get; init; }

    /// <summary>Streams a QEMU migration runs on (1–16): 1 is QEMU's classic single stream, more is multifd with that many
    /// channels, set on both the source and the destination. Our own pre-copy engine sends one stream and ignores it.</summary>
    public int MigrationChannels { get; init; } = 1;

    /// <summary>Allow the switch to post-copy on QEMU when pre-copy does not converge: at the stall (instead of escalating the
    /// downtime target) or at the completion timeout with <see cref="TimeoutAction.Force"/>, the destination runs at once and
    /// pulls the pages it still lacks. Keeps the downtime short for a guest that dirties faster than the link, but a
    /// destination or network failure from then until the last page arrives loses the VM. Never for <c>critical</c>, and not
    /// with more than one <see cref="MigrationChannels"/> (QEMU 7.2). Off by default; our own engine has no post-copy.</summary>
    public bool PostCopy { get; init; }

    /// <summary>False: VMs of this class are never live-migrated (pass-through hardware state); a drain reports them with the reason.</summary>
    public bool LiveMigrate { get; init; } = true;

    /// <summary>Fleet operations (drains, campaigns) move VMs of this class only inside this UTC window, <c>HH:MM-HH:MM</c>
    /// (may wrap midnight); null: any time. An operator's own migration is not held back.</summary>
    public string? MaintenanceWindowUtc { get; init; }

    /// <summary>Fleet operations tell the VM's owner before they move it (through the location/notification backend).</summary>
    public bool NotifyOwner { get; init; }

    /// <summary>Whether a VM this policy cannot live-migrate (<see cref="LiveMigrate"/> false, pass-through devices, or any
    /// other refusal of <see cref="DestinationSelector.NotLiveMovable"/>) may be moved cold: shut down, disks and flows
    /// handed over, started on the destination. Built-in: <c>never</c> for <c>critical</c> (its owners are promised no
    /// unplanned outage), <c>allow</c> for every other class.</summary>
    public OrleansMigrate.Fleet.ColdMove ColdMove { get; init; } = OrleansMigrate.Fleet.ColdMove.Allow;

    /// <summary>How long a cold move waits for the guest to power off by itself (ACPI) before it stops it hard, in ms
    /// (0–600000); default 30 s.</summary>
    public double ColdShutdownTimeoutMs { get; init; } = 30_000;

    /// <summary>Whether <paramref name="now"/> is inside <see cref="MaintenanceWindowUtc"/> (always, without one).</summary>
    public bool InWindow(DateTimeOffset now)
    {
        if (MaintenanceWindowUtc is null || !TryParseWindow(MaintenanceWindowUtc, out var from, out var to))
        {
            return true;
        }

        var t = now.UtcDateTime.TimeOfDay;
        return from <= to ? t >= from && t < to : t >= from || t < to;
    }

    /// <summary>Parses <c>HH:MM-HH:MM</c> (24:00 allowed as an end).</summary>
    public static bool TryParseWindow(string text, out TimeSpan from, out TimeSpan to)
    {
        (from, to) = (default, default);
        var parts = text.Split('-');
        return parts.Length == 2 && TryTime(parts[0], out from) && TryTime(parts[1], out to) && from != to && from < TimeSpan.FromDays(1);
    }

    private static bool TryTime(string text, out TimeSpan time)
    {
        time = default;
        var hm = text.Trim().Split(':');
        if (hm.Length != 2 || hm[0].Length != 2 || hm[1].Length != 2 || !int.TryParse(hm[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var h)
            || !int.TryParse(hm[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var m) || h > 24 || m > 59 || (h == 24 && m != 0))
        {
            return false;
        }

        time = new TimeSpan(h, m, 0);
        return true;
    }

    public OrleansMigrate.Fleet.PolicyInfo Info() => new(Name, DowntimeTargetMs, LinkBandwidthBytesPerSecond, Compression, AllowOlderVersion, CompletionTimeoutMsPerGiB,
        StallMs, OnTimeout, OnStall, MaxDowntimeTargetMs, AutoConverge, LiveMigrate, MaintenanceWindowUtc, NotifyOwner, MigrationChannels, PostCopy, ColdMove, ColdShutdownTimeoutMs);

    public MigrationTuning Tuning(int guestMiB) => new(
        DowntimeTargetMs, LinkBandwidthBytesPerSecond, Compression, PreLastCopy: true, MaxRounds: 30,
        MaxPreCopyMs: Math.Max(1000, CompletionTimeoutMsPerGiB * Math.Max(1, guestMiB) / 1024.0), AutoConverge: AutoConverge, OnTimeout: OnTimeout, Policy: Name,
        MigrationChannels: MigrationChannels, PostCopy: PostCopy);

    /// <summary>The name of the class post-copy is never allowed for: losing one of its VMs is not an acceptable risk.</summary>
    public const string NeverPostCopy = "critical";

    /// <summary>What is wrong with this policy's combination of fields, as messages naming <c>Omig:Policies:NAME:Field</c>.</summary>
    public IEnumerable<string> CheckCombination(string key)
    {
        if (PostCopy && Name == NeverPostCopy)
        {
            yield return $"Omig:Policies:{key}:PostCopy: post-copy is never allowed for '{NeverPostCopy}': a failure during post-copy loses the VM";
        }

        if (PostCopy && MigrationChannels > 1)
        {
            yield return $"Omig:Policies:{key}:PostCopy: post-copy cannot be combined with {MigrationChannels} migration channels (QEMU 7.2 does not run post-copy with multifd)";
        }
    }

    /// <summary>The built-in policies; <c>standard</c> is the default.</summary>
    public static readonly IReadOnlyDictionary<string, MigrationPolicy> BuiltIn = new Dictionary<string, MigrationPolicy>(StringComparer.Ordinal)
    {
        ["standard"] = new() { Name = "standard" },
        ["critical"] = new() { Name = "critical", DowntimeTargetMs = 50, OnStall = StallAction.Abort, OnTimeout = TimeoutAction.Abort, MaintenanceWindowUtc = "22:00-06:00", NotifyOwner = true, ColdMove = OrleansMigrate.Fleet.ColdMove.Never },
        ["economy"] = new() { Name = "economy", DowntimeTargetMs = 100, LinkBandwidthBytesPerSecond = 125_000_000, OnStall = StallAction.Escalate, MaxDowntimeTargetMs = 2000, AutoConverge = true },
        ["any-version"] = new() { Name = "any-version", AllowOlderVersion = true },
        ["passthrough"] = new() { Name = "passthrough", LiveMigrate = false, NotifyOwner = true },
    };
}
