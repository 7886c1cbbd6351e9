namespace OrleansMigrate.Agents;

/// <summary>One round of a VM's session table on its way from the source host's agent to the destination's: the changed
/// conntrack entries as fixed-size records (the data plane's session delta format).</summary>
/// <param name="Round">1 for the full first copy, then one per round; rounds are applied in order, each once.</param>
/// <param name="Entries">Records carried.</param>
/// <param name="Records">The records, 40 bytes each.</param>
/// <param name="Final">The final delta, read after the VM paused: the destination resumes only after it is applied.</param>
/// <param name="SyncMs">How long the source took to read conntrack's changes for this round.</param>
[GenerateSerializer, Immutable]
[Alias("omig.SessionRoundMessage")]
public sealed record SessionRoundMessage(
    [property: Id(0)] int Round,
    [property: Id(1)] int Entries,
    [property: Id(2)] byte[] Records,
    [property: Id(3)] bool Final,
    [property: Id(4)] double SyncMs);

/// <summary>What the destination's agent did with a <see cref="SessionRoundMessage"/>.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.SessionRoundAck")]
public sealed record SessionRoundAck(
    [property: Id(0)] int Round,
    [property: Id(1)] int Written,
    [property: Id(2)] int Deleted,
    [property: Id(3)] double ApplyMs);
