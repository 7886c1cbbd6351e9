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

    /// <summary>How many devices of <paramref name="key"/> (<c>kind:model</c>, e.g. <c>gpu:A10</c>) the host offers.</summary>
    public int OfferedDevices(string key)
    {
        var n = 0;
        foreach (var d in Spec.Devices)
        {
            if (d.Key == key)
            {
                n += d.Count;
            }
        }

        return n;
    }

    /// <summary>How many devices of <paramref name="key"/> placed VMs and reservations hold.</summary>
    public int UsedDevices(string key) => SumOf(Vms).Devices.GetValueOrDefault(key) + SumOf(Reservations).Devices.GetValueOrDefault(key);

    /// <summary>How many devices of <paramref name="key"/> are free after reservations (negative only when an
    /// operator shrank the inventory under what is held, which <c>SetDevices</c> refuses).</summary>
    public int FreeDevices(string key) => OfferedDevices(key) - UsedDevices(key);

    /// <summary>The first device of <paramref name="wanted"/> this host has too few of, after reservations, as
    /// "host h-3 has 0 free gpu:A10, needs 1"; null when it has them all.</summary>
    public string? MissingDevice(IEnumerable<DeviceCount> wanted)
    {
        foreach (var (key, need) in DeviceCounts.ByKey(wanted))
        {
            var free = FreeDevices(key);
            if (free < need)
            {
                return $"host {HostId} has {Math.Max(free, 0)} free {key}, needs {need}";
            }
        }

        return null;
    }

    private static Sum SumOf(ImmutableDictionary<string, Placement> placements) =>
        placements.IsEmpty ? Sum.Zero : Sums.GetValue(placements, static d => new Sum(d.Values.Sum(p => p.Vcpus), d.Values.Sum(p => p.MemoryMiB),
            DeviceCounts.ByKey(d.Values.SelectMany(p => p.Devices))));

    private sealed record Sum(int Vcpus, long MemoryMiB, Dictionary<string, int> Devices)
    {
        public static readonly Sum Zero = new(0, 0, new Dictionary<string, int>(StringComparer.Ordinal));
    }
}
