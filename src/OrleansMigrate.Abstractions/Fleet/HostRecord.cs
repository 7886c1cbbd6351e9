using System.Collections.Immutable;
using System.Runtime.CompilerServices;

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

    /// <summary>Powered on or off (<see cref="HostPowerState"/>); rows stored before power management read as on.</summary>
    [Id(6)]
    public HostPowerState Power { get; init; }

    /// <summary>When <see cref="Power"/> last changed; null when it never did.</summary>
    [Id(7)]
    public DateTimeOffset? PowerChangedAt { get; init; }

    // The sums, computed once per dictionary instance (they are immutable): placement ranks thousands of hosts per
    // decision. Kept outside the record so its equality and serialization stay those of its data.
    private static readonly ConditionalWeakTable<ImmutableDictionary<string, Placement>, Sum> Sums = new();

    public int UsedVcpus => SumOf(Vms).Vcpus + SumOf(Reservations).Vcpus;

    public long UsedMemoryMiB => SumOf(Vms).MemoryMiB + SumOf(Reservations).MemoryMiB;

    public int FreeVcpus => Spec.Cores - UsedVcpus;

    public long FreeMemoryMiB => Spec.MemoryMiB - UsedMemoryMiB;

    public int ReservedVcpus => SumOf(Reservations).Vcpus;

    public long ReservedMemoryMiB => SumOf(Reservations).MemoryMiB;

    private static Sum SumOf(ImmutableDictionary<string, Placement> placements) =>
        placements.IsEmpty ? Sum.Zero : Sums.GetValue(placements, static d => new Sum(d.Values.Sum(p => p.Vcpus), d.Values.Sum(p => p.MemoryMiB)));

    private sealed record Sum(int Vcpus, long MemoryMiB)
    {
        public static readonly Sum Zero = new(0, 0);
    }
}
