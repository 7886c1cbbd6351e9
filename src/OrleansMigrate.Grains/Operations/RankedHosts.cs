using OrleansMigrate.Fleet;

namespace OrleansMigrate.Operations;

/// <summary>
/// A fleet snapshot's hosts in the order a drain tries destinations (<see cref="DestinationOrder"/>'s rule), sorted once:
/// hosts that can take VMs at all (schedulable and healthy) first, then on the preferred firmware, then the most free
/// memory, then the most free cores. Hosts equal on all of these form a tie group; <see cref="Walk"/> starts each group
/// at a place chosen by the draining host's id, so the drains of a campaign batch, which read the same snapshot, spread
/// their VMs instead of all sending them to the same few hosts. A walk costs what it reads, not the fleet's size.
/// </summary>
public sealed class RankedHosts
{
    private readonly HostRecord[] _sorted;

    /// <summary>Where each tie group starts in <see cref="_sorted"/>, plus the array's length at the end.</summary>
    private readonly int[] _groups;

    public RankedHosts(IEnumerable<HostRecord> hosts, string? preferFirmware)
    {
        var keyed = hosts.Select(h => (Key: Key(h, preferFirmware), Host: h)).ToArray();
        Array.Sort(keyed, static (a, b) =>
        {
            var c = a.Key.CompareTo(b.Key);
            return c != 0 ? c : string.CompareOrdinal(a.Host.HostId, b.Host.HostId);
        });
        _sorted = [.. keyed.Select(k => k.Host)];
        var groups = new List<int>();
        for (var i = 0; i < keyed.Length; i++)
        {
            if (i == 0 || keyed[i].Key != keyed[i - 1].Key)
            {
                groups.Add(i);
            }
        }

        groups.Add(keyed.Length);
        _groups = [.. groups];
    }

    public int Count => _sorted.Length;

    /// <summary>Every host once, best first; inside a tie group starting at an offset derived from
    /// <paramref name="salt"/> (the draining host's id) and wrapping around. Lazy: a caller that stops after k hosts
    /// paid for k.</summary>
    public IEnumerable<HostRecord> Walk(string salt)
    {
        var spread = Naming.StableHash.Fnv1a(salt);
        for (var g = 0; g + 1 < _groups.Length; g++)
        {
            var start = _groups[g];
            var size = _groups[g + 1] - start;
            var offset = (int)(spread % (uint)size);
            for (var i = 0; i < size; i++)
            {
                yield return _sorted[start + ((offset + i) % size)];
            }
        }
    }

    /// <summary>Smaller is better: not eligible, not preferred, less free memory, fewer free cores all rank later.</summary>
    private static RankKey Key(HostRecord host, string? preferFirmware) => new(
        host.Scheduling == SchedulingState.Schedulable && host.Health == HostHealth.Ok ? 0 : 1,
        preferFirmware is not null && host.Spec.FirmwareVersion == preferFirmware ? 0 : 1,
        -host.FreeMemoryMiB,
        -host.FreeVcpus);

    private readonly record struct RankKey(int Ineligible, int NotPreferred, long NegFreeMemory, int NegFreeVcpus) : IComparable<RankKey>
    {
        public int CompareTo(RankKey other)
        {
            var c = Ineligible.CompareTo(other.Ineligible);
            if (c == 0)
            {
                c = NotPreferred.CompareTo(other.NotPreferred);
            }

            if (c == 0)
            {
                c = NegFreeMemory.CompareTo(other.NegFreeMemory);
            }

            return c != 0 ? c : NegFreeVcpus.CompareTo(other.NegFreeVcpus);
        }
    }
}
