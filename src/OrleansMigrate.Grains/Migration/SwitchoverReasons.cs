using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// The words <see cref="MigrationStatus.SwitchoverReason"/> uses, from the data plane's own reason (it alone knows whether
/// it converged or hit its limit) and what the migration grain asked of it (it alone knows who asked for a switchover).
/// </summary>
public static class SwitchoverReasons
{
    public const string Converged = "converged";
    public const string Limit = "limit";
    public const string Stall = "stall";
    public const string Forced = "forced";
    public const string Requested = "requested";

    /// <param name="dataPlane">The agent's <c>OutgoingSnapshot.SwitchoverReason</c> (<c>converged</c>, <c>round-limit</c>,
    /// <c>time-limit</c>, <c>requested</c>), or null from an agent that does not say.</param>
    /// <param name="operatorForced">A force-complete was asked for.</param>
    /// <param name="stallForced">The stall detector forced the switchover.</param>
    /// <returns>The data plane's reason when it converged or hit its limit first (a force that came too late did not cause
    /// the switchover); when it was asked, who asked; null when nothing is known.</returns>
    public static string? Of(string? dataPlane, bool operatorForced, bool stallForced) => dataPlane switch
    {
        "converged" => Converged,
        "round-limit" or "time-limit" => Limit,
        "requested" or null when operatorForced => Forced,
        "requested" or null when stallForced => Stall,
        "requested" => Requested,
        _ => null,
    };
}
