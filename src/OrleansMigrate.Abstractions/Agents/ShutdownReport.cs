namespace OrleansMigrate.Agents;

/// <summary>A guest shut down on its host for a cold move (see <see cref="IHostAgentGrain.ShutdownForMoveAsync"/>).</summary>
/// <param name="Graceful">It powered off by itself after the power-down request; false: stopped hard after the timeout.</param>
/// <param name="StoppedAtUtc">When it stopped.</param>
/// <param name="ShutdownMs">Power-down request to stopped, in ms.</param>
/// <param name="WasRunning">The hypervisor ran it when asked; false: it had no running instance (already stopped, or a
/// replay after the first shutdown), and the other fields say when this answer was given.</param>
[GenerateSerializer, Immutable]
[Alias("omig.ShutdownReport")]
public sealed record ShutdownReport(
    [property: Id(0)] bool Graceful,
    [property: Id(1)] DateTimeOffset StoppedAtUtc,
    [property: Id(2)] double ShutdownMs,
    [property: Id(3)] bool WasRunning = true);
