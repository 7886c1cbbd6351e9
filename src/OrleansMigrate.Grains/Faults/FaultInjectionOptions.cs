using System.Globalization;

namespace OrleansMigrate.Grains.Faults;

/// <summary>
/// Random fault injection (<c>Omig:Faults:…</c>), for chaos runs only: every component action and data-plane step
/// that reports to <see cref="IFaultInjector"/> fails, stalls or runs slow with probability <see cref="Rate"/>.
/// Off (rate 0) by default. Decisions are a pure function of the seed, the step, its subject and how often that
/// step has run on that subject, so a run with the same seed and the same requests sees the same faults however
/// the steps interleave.
/// </summary>
public sealed class FaultInjectionOptions
{
    /// <summary>Probability, 0–1, that one step call gets a fault; 0 (default) disables injection.</summary>
    public double Rate { get; set; }

    /// <summary>Seed of the decisions.</summary>
    public long Seed { get; set; } = 1;

    /// <summary>Comma-separated step names or prefixes ending in <c>.</c> (e.g. <c>disk.,vpc.enable-relay</c>) that
    /// may fault; empty (default) means every step in <see cref="FaultSteps"/>. Provisioning steps
    /// (<c>disk.create</c>, <c>disk.delete</c>) and the scheduler's write (<c>scheduler.save</c>) fault only when named.</summary>
    public string? Steps { get; set; }

    /// <summary>Relative weight of "the action fails" among faults; default 6.</summary>
    public double FailWeight { get; set; } = 6;

    /// <summary>Relative weight of "the action runs slow" (<see cref="SlowMs"/>); default 3.</summary>
    public double SlowWeight { get; set; } = 3;

    /// <summary>Relative weight of "the action stalls" (<see cref="StallMs"/>, then goes on); default 1.</summary>
    public double StallWeight { get; set; } = 1;

    /// <summary>Extra time of a slow action, ms (1–60000); default 200.</summary>
    public int SlowMs { get; set; } = 200;

    /// <summary>Time a stalled action hangs before it carries on, ms (1–600000); default 3000. Longer than a
    /// grain call's response timeout (30 s) turns a stall into a timeout at the caller.</summary>
    public int StallMs { get; set; } = 3000;

    public bool Enabled => Rate > 0;

    /// <summary>One message per bad field, naming it as <c>{prefix}Rate</c> etc.; empty when valid.</summary>
    public List<string> Check(string prefix = "Omig:Faults:")
    {
        var errors = new List<string>();
        if (double.IsNaN(Rate) || Rate is < 0 or > 1)
        {
            errors.Add($"{prefix}Rate: {Rate.ToString(CultureInfo.InvariantCulture)} is not a probability (0-1)");
        }

        foreach (var (name, weight) in new[] { ("FailWeight", FailWeight), ("SlowWeight", SlowWeight), ("StallWeight", StallWeight) })
        {
            if (double.IsNaN(weight) || weight is < 0 or > 1000)
            {
                errors.Add($"{prefix}{name}: {weight.ToString(CultureInfo.InvariantCulture)} is not a weight (0-1000)");
            }
        }

        if (FailWeight + SlowWeight + StallWeight <= 0)
        {
            errors.Add($"{prefix}FailWeight: at least one of FailWeight, SlowWeight, StallWeight must be above 0");
        }

        if (SlowMs is < 1 or > 60_000)
        {
            errors.Add($"{prefix}SlowMs: {SlowMs} is not between 1 and 60000");
        }

        if (StallMs is < 1 or > 600_000)
        {
            errors.Add($"{prefix}StallMs: {StallMs} is not between 1 and 600000");
        }

        foreach (var step in StepList)
        {
            if (!Known.Any(k => k == step || (step.EndsWith('.') && k.StartsWith(step, StringComparison.Ordinal))))
            {
                errors.Add($"{prefix}Steps: '{step}' matches no fault step (known: {string.Join(", ", Known)})");
            }
        }

        return errors;
    }

    /// <summary>The configured step names and prefixes.</summary>
    public IReadOnlyList<string> StepList => (Steps ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Every step name a component reports.</summary>
    public static IReadOnlyList<string> Known { get; } =
    [
        .. typeof(FaultSteps).GetFields().Select(f => (string)f.GetValue(null)!),
        Cloud.CloudFaultSteps.DiskCreate,
        Cloud.CloudFaultSteps.DiskDelete,
    ];
}
