using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Agents;

/// <summary>
/// What the destination's agent must see before it may run the VM (parallel switchover): the final copy received
/// on its own side, each disk taken over at a new fencing generation, each NIC's relay enabled, and no abort. The
/// migration grain hands it over the moment the source pauses; the agent takes the disk and relay steps itself
/// and resumes the instant the last condition holds.
/// </summary>
/// <param name="SourceHost">The host whose writer the disks are taken from.</param>
/// <param name="Disks">The VM's cloud disks.</param>
/// <param name="Nics">The VM's NICs, whose relays (staged in prepare) are enabled.</param>
[GenerateSerializer, Immutable]
[Alias("omig.SwitchoverPlan")]
public sealed record SwitchoverPlan(
    [property: Id(0)] string SourceHost,
    [property: Id(1)] ImmutableArray<DiskSpec> Disks,
    [property: Id(2)] ImmutableArray<NicSpec> Nics);

/// <summary>The destination ran the VM (the commit point), with each step it took on the way.</summary>
/// <param name="Calls">Grain calls the agent made inside the downtime (disk and relay steps).</param>
[GenerateSerializer, Immutable]
[Alias("omig.SwitchoverReport")]
public sealed record SwitchoverReport(
    [property: Id(0)] DateTimeOffset ResumedAtUtc,
    [property: Id(1)] ImmutableArray<Migration.SwitchoverMark> Marks,
    [property: Id(2)] int Calls);
