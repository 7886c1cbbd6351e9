using System.Globalization;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// One policy's settings in configuration, <c>Omig:Policies:NAME:Field</c>. Every field is optional: unset fields
/// keep the built-in policy of that name, or <c>standard</c>'s for a new name. E.g.
/// <c>Omig__Policies__gold__DowntimeTargetMs=30</c>, <c>--Omig:Policies:batch:LiveMigrate=false</c>.
/// </summary>
public sealed class PolicySettings
{
    public double? DowntimeTargetMs { get; set; }

    public long? LinkBandwidthBytesPerSecond { get; set; }

    public string? Compression { get; set; }

    public bool? AllowOlderVersion { get; set; }

    public double? CompletionTimeoutMsPerGiB { get; set; }

    public double? StallMs { get; set; }

    public string? OnTimeout { get; set; }

    public string? OnStall { get; set; }

    public double? MaxDowntimeTargetMs { get; set; }

    public bool? AutoConverge { get; set; }

    /// <summary>1 (QEMU's classic single stream) to 16 (multifd with that many channels on both sides).</summary>
    public int? MigrationChannels { get; set; }

    public bool? LiveMigrate { get; set; }

    /// <summary>Allow the switch to post-copy on QEMU (never for <c>critical</c>).</summary>
    public bool? PostCopy { get; set; }

    /// <summary><c>HH:MM-HH:MM</c> UTC, or <c>any</c> for no window.</summary>
    public string? MaintenanceWindowUtc { get; set; }

    public bool? NotifyOwner { get; set; }

    /// <summary><c>allow</c> or <c>never</c>: whether a VM that cannot move live may be moved cold.</summary>
    public string? ColdMove { get; set; }

    /// <summary>0–600000 ms: how long a cold move waits for the guest to power off before stopping it hard.</summary>
    public double? ColdShutdownTimeoutMs { get; set; }

    public MigrationPolicy ApplyTo(MigrationPolicy basis, string name) => basis with
    {
        Name = name,
        DowntimeTargetMs = DowntimeTargetMs ?? basis.DowntimeTargetMs,
        LinkBandwidthBytesPerSecond = LinkBandwidthBytesPerSecond ?? basis.LinkBandwidthBytesPerSecond,
        Compression = Compression is null ? basis.Compression : Enum.Parse<OrleansMigrate.Agents.CompressionScope>(Compression.Trim(), ignoreCase: true),
        AllowOlderVersion = AllowOlderVersion ?? basis.AllowOlderVersion,
        CompletionTimeoutMsPerGiB = CompletionTimeoutMsPerGiB ?? basis.CompletionTimeoutMsPerGiB,
        StallMs = StallMs ?? basis.StallMs,
        OnTimeout = OnTimeout is null ? basis.OnTimeout : Enum.Parse<OrleansMigrate.Agents.TimeoutAction>(OnTimeout.Trim(), ignoreCase: true),
        OnStall = OnStall is null ? basis.OnStall : Enum.Parse<OrleansMigrate.Agents.StallAction>(OnStall.Trim(), ignoreCase: true),
        MaxDowntimeTargetMs = MaxDowntimeTargetMs ?? basis.MaxDowntimeTargetMs,
        AutoConverge = AutoConverge ?? basis.AutoConverge,
        MigrationChannels = MigrationChannels ?? basis.MigrationChannels,
        LiveMigrate = LiveMigrate ?? basis.LiveMigrate,
        PostCopy = PostCopy ?? basis.PostCopy,
        MaintenanceWindowUtc = MaintenanceWindowUtc is null ? basis.MaintenanceWindowUtc : MaintenanceWindowUtc.Trim().Equals("any", StringComparison.OrdinalIgnoreCase) ? null : MaintenanceWindowUtc.Trim(),
        NotifyOwner = NotifyOwner ?? basis.NotifyOwner,
        ColdMove = ColdMove is null ? basis.ColdMove : Enum.Parse<OrleansMigrate.Fleet.ColdMove>(ColdMove.Trim(), ignoreCase: true),
        ColdShutdownTimeoutMs = ColdShutdownTimeoutMs ?? basis.ColdShutdownTimeoutMs,
    };

    /// <summary>One message per bad field of policy <paramref name="name"/>, named <c>Omig:Policies:NAME:Field</c>.</summary>
    public IEnumerable<string> Check(string name)
    {
        var key = $"Omig:Policies:{name}:";
        if (!OrleansMigrate.Fleet.FleetValidation.IsValidId(name))
        {
            yield return $"Omig:Policies:{name}: '{name}' is not a valid policy name (lower-case letters, digits, '-')";
        }

        string Num(double v) => v.ToString(CultureInfo.InvariantCulture);
        if (DowntimeTargetMs is { } dt && (double.IsNaN(dt) || dt is < 0.1 or > 600_000))
        {
            yield return $"{key}DowntimeTargetMs: {Num(dt)} is not between 0.1 and 600000";
        }

        if (MaxDowntimeTargetMs is { } mx && (double.IsNaN(mx) || mx is < 0.1 or > 600_000))
        {
            yield return $"{key}MaxDowntimeTargetMs: {Num(mx)} is not between 0.1 and 600000";
        }

        if (LinkBandwidthBytesPerSecond is { } bw && bw is < 1_000_000 or > 100_000_000_000)
        {
            yield return $"{key}LinkBandwidthBytesPerSecond: {bw} is not between 1000000 and 100000000000";
        }

        if (Compression is { } c && c.Trim().ToLowerInvariant() is not ("none" or "final" or "all"))
        {
            yield return $"{key}Compression: '{c}' is not one of none, final, all";
        }

        if (CompletionTimeoutMsPerGiB is { } ct && (double.IsNaN(ct) || ct is < 100 or > 86_400_000))
        {
            yield return $"{key}CompletionTimeoutMsPerGiB: {Num(ct)} is not between 100 and 86400000";
        }

        if (StallMs is { } st && (double.IsNaN(st) || st is < 10 or > 3_600_000))
        {
            yield return $"{key}StallMs: {Num(st)} is not between 10 and 3600000";
        }

        if (OnTimeout is { } ot && ot.Trim().ToLowerInvariant() is not ("abort" or "force"))
        {
            yield return $"{key}OnTimeout: '{ot}' is not one of abort, force";
        }

        if (OnStall is { } os && os.Trim().ToLowerInvariant() is not ("abort" or "escalate"))
        {
            yield return $"{key}OnStall: '{os}' is not one of abort, escalate";
        }

        if (MigrationChannels is { } ch && ch is < 1 or > OrleansMigrate.Hypervisor.Drivers.MigrationOptions.MaxMigrationChannels)
        {
            yield return $"{key}MigrationChannels: {ch} is not between 1 and {OrleansMigrate.Hypervisor.Drivers.MigrationOptions.MaxMigrationChannels} (1 is one stream, more is QEMU multifd)";
        }

        if (ColdMove is { } cm && cm.Trim().ToLowerInvariant() is not ("allow" or "never"))
        {
            yield return $"{key}ColdMove: '{cm}' is not one of allow, never";
        }

        if (ColdShutdownTimeoutMs is { } cs && (double.IsNaN(cs) || cs is < 0 or > 600_000))
        {
            yield return $"{key}ColdShutdownTimeoutMs: {Num(cs)} is not between 0 and 600000";
        }

        // Every built-in policy runs one stream, so the channels set here are the ones the policy gets.
        if (PostCopy == true)
        {
            foreach (var error in new MigrationPolicy { Name = name, PostCopy = true, MigrationChannels = MigrationChannels ?? 1 }.CheckCombination(name))
            {
                yield return error;
            }
        }

        if (MaintenanceWindowUtc is { } w && !w.Trim().Equals("any", StringComparison.OrdinalIgnoreCase) && !MigrationPolicy.TryParseWindow(w.Trim(), out _, out _))
        {
            yield return $"{key}MaintenanceWindowUtc: '{w}' is not HH:MM-HH:MM (UTC) or any";
        }
    }
}
