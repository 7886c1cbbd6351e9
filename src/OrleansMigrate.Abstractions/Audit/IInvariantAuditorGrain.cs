using Orleans.Concurrency;

namespace OrleansMigrate.Audit;

/// <summary>
/// The continuous invariant auditor (one activation per cluster, key <see cref="Key"/>, on a control silo): runs an
/// <see cref="InvariantAudit"/> pass on a timer and keeps the last report. The audit drivers of the control silos call
/// <see cref="EnsureRunningAsync"/> every interval, which (re)activates it after a deactivation or the death of its silo.
/// </summary>
[Alias("omig.IInvariantAuditorGrain")]
public interface IInvariantAuditorGrain : IGrainWithStringKey
{
    const string Key = "auditor";

    /// <summary>Starts the pass timer unless it runs already: a pass every <paramref name="interval"/>, each abandoned after
    /// <paramref name="passTimeout"/>, reporting migrations without progress for <paramref name="stuckAfter"/>. The first
    /// caller's schedule holds for the activation's lifetime. Returns the auditor's status.</summary>
    [AlwaysInterleave]
    [Alias("EnsureRunning")]
    Task<AuditorStatus> EnsureRunningAsync(TimeSpan interval, TimeSpan passTimeout, TimeSpan stuckAfter);

    /// <summary>The last report and the counters; answers while a pass runs.</summary>
    [AlwaysInterleave]
    [Alias("GetStatus")]
    Task<AuditorStatus> GetStatusAsync();
}
