namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>A load surge: the dirty rate is multiplied for a while.</summary>
/// <param name="StartMs">When the surge begins, in ms after the workload started (0..86400000).</param>
/// <param name="DurationMs">How long it lasts, in ms (0..86400000).</param>
/// <param name="Multiplier">Factor on the base dirty rate while it lasts (1..1000).</param>
public sealed record SurgeOptions(double StartMs, double DurationMs, double Multiplier)
{
    public void Validate()
    {
        if (StartMs is < 0 or > 86_400_000 || DurationMs is < 0 or > 86_400_000 || Multiplier is < 1 or > 1000)
            throw new ArgumentException($"Surge out of range: start {StartMs} ms, duration {DurationMs} ms, ×{Multiplier}.");
    }
}
