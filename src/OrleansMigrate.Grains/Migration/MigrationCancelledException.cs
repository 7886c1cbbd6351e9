namespace OrleansMigrate.Grains.Migration;

/// <summary>Raised inside the run loop when an operator's cancel is honoured (before the commit point).</summary>
public sealed class MigrationCancelledException(string reason) : Exception($"cancelled: {reason}")
{
    public string Reason { get; } = reason;
}
