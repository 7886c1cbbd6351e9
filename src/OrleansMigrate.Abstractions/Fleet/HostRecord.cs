using System.Collections.Immutable;

namespace OrleansMigrate.Fleet;

/// <summary>A host as the fleet registry knows it.</summary>
/// <param name="Vms">VM id → what it uses.</param>
/// <param name="Reservations">Reservation id (e.g. a migration id) → what it holds; counted as used.</param>
[GenerateSerializer, Immutable]
[Alias("omig.HostRecord")]
public sealed record HostRecord(
    [property: Id(0)] HostSpec Spec,
    [property: Id(1)] HostHealth Health,
    [property: Id(2)] SchedulingState Scheduling,
    [property: Id(3)] ImmutableDictionary<string, Placement> Vms,
    [property: Id(4)] ImmutableDictionary<string, Placement> Reservations,
    [property: Id(5)] DateTimeOffset RegisteredAt)
{
    public string HostId => Spec.HostId;

    public int UsedVcpus => Vms.Values.Sum(p => p.Vcpus) + Reservations.Values.Sum(p => p.Vcpus);

    public long UsedMemoryMiB => Vms.Values.Sum(p => p.MemoryMiB) + Reservations.Values.Sum(p => p.MemoryMiB);

    public int FreeVcpus => Spec.Cores - UsedVcpus;

    public long FreeMemoryMiB => Spec.MemoryMiB - UsedMemoryMiB;

    public int ReservedVcpus => Reservations.Values.Sum(p => p.Vcpus);

    public long ReservedMemoryMiB => Reservations.Values.Sum(p => p.MemoryMiB);
}
