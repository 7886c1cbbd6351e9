using System.Collections.Immutable;

namespace OrleansMigrate.Migration;

/// <summary>What the source host predicts for one migration of the VM, from its dirty rate sampled just now.</summary>
/// <param name="Method">How the dirty rate was measured: <c>simulated-counters</c>, <c>qemu-calc-dirty-rate</c>, ….</param>
/// <param name="Outcome"><c>converges</c>, <c>forced-switchover</c> (only by raising the target or forcing) or <c>fails</c>.</param>
[GenerateSerializer, Immutable]
[Alias("omig.PreflightPrediction")]
public sealed record PreflightPrediction(
    [property: Id(0)] string Method,
    [property: Id(1)] double DirtyBytesPerSecond,
    [property: Id(2)] double SampleWindowMs,
    [property: Id(3)] long MemoryBytes,
    [property: Id(4)] int Rounds,
    [property: Id(5)] double TotalMs,
    [property: Id(6)] double DowntimeMs,
    [property: Id(7)] bool ConvergesWithoutThrottling,
    [property: Id(8)] bool DowntimeWithinTarget,
    [property: Id(9)] string Outcome,
    [property: Id(10)] long BytesSent,
    [property: Id(11)] string Reason);

/// <summary>One candidate destination: allowed or not, and why not.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.PreflightCandidate")]
public sealed record PreflightCandidate(
    [property: Id(0)] string HostId,
    [property: Id(1)] bool Allowed,
    [property: Id(2)] string? Reason);

/// <summary>A migration's preflight (<c>omig vm migrate VM --dry-run</c>): nothing is reserved or moved.</summary>
/// <param name="VmMemoryMiB">The VM's registered memory (the prediction's <see cref="PreflightPrediction.MemoryBytes"/> is what
/// the host sampled, which for a simulated guest is its smaller backing).</param>
/// <param name="Go">True when the migration would start (a destination allows it) and the prediction meets the policy.</param>
[GenerateSerializer, Immutable]
[Alias("omig.PreflightReport")]
public sealed record PreflightReport(
    [property: Id(0)] string VmId,
    [property: Id(1)] string SourceHost,
    [property: Id(2)] string Policy,
    [property: Id(3)] double DowntimeTargetMs,
    [property: Id(4)] long LinkBandwidthBytesPerSecond,
    [property: Id(5)] PreflightPrediction? Prediction,
    [property: Id(6)] string? PredictionError,
    [property: Id(7)] ImmutableArray<PreflightCandidate> Candidates,
    [property: Id(8)] string? Destination,
    [property: Id(9)] bool Go,
    [property: Id(10)] string Verdict,
    [property: Id(11)] long VmMemoryMiB = 0);

/// <summary>Runs migration preflights (stateless, any control silo).</summary>
[Alias("omig.IPreflightGrain")]
public interface IPreflightGrain : IGrainWithIntegerKey
{
    /// <param name="sampleMs">How long the source samples the VM's dirty rate (100-10000 ms; QEMU rounds up to whole seconds).</param>
    [Alias("Run")]
    Task<PreflightReport> RunAsync(MigrationRequest request, int sampleMs);
}
