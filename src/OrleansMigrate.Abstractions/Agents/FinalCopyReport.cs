namespace OrleansMigrate.Agents;

/// <summary>The stop-and-copy as the source measured it.</summary>
/// <param name="DataPlaneMs">Final copy start to the destination's acknowledgement.</param>
[GenerateSerializer, Immutable]
[Alias("omig.FinalCopyReport")]
public sealed record FinalCopyReport(
    [property: Id(0)] double DataPlaneMs,
    [property: Id(1)] long Pages,
    [property: Id(2)] long WireBytes,
    [property: Id(3)] long CompressedBytes,
    [property: Id(4)] int SessionDeltaEntries)
{
    /// <summary>The source's steps on the shared clock (QEMU: pre-switchover event received, continue sent,
    /// completed; the built-in data plane: final copy started, acknowledged).</summary>
    [Id(5)]
    public System.Collections.Immutable.ImmutableArray<Migration.SwitchoverMark> Marks { get; init; } = [];
}
