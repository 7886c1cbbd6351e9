using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Grains.Operations;

/// <summary>
/// A fleet snapshot's hosts in the order a drain tries destinations (<see cref="Compare"/>), sorted once:
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
        var sorted = hosts.ToArray();
        Array.Sort(sorted, (a, b) =>
        {
            var c = Compare(a, b, preferFirmware);
            return c != 0 ? c : string.CompareOrdinal(a.HostId, b.HostId);
        });
        _sorted = sorted;
        var groups = new List<int>();
        for (var i = 0; i < sorted.Length; i++)
        {
            if (i == 0 || Compare(sorted[i], sorted[i - 1], preferFirmware) != 0)
            {
                groups.Add(i);
            }
        }

        groups.Add(sorted.Length);
        _groups = [.. groups];
    }

    /// <summary>
    /// A drain's order of destinations, negative when <paramref name="x"/> comes first: hosts that take VMs at all
    /// (<see cref="DestinationSelector.TakesVms"/>) first, then those on <paramref name="preferFirmware"/>, then the
    /// best-host rule (<see cref="DestinationSelector.CompareRoom"/>). 0 for a tie.
    /// </summary>
    public static int Compare(HostRecord x, HostRecord y, string? preferFirmware)
    {
        var c = DestinationSelector.TakesVms(y).CompareTo(DestinationSelector.TakesVms(x));
        if (c == 0 && preferFirmware is not null)
        {
            c = (y.Spec.FirmwareVersion == preferFirmware).CompareTo(x.Spec.FirmwareVersion == preferFirmware);
        }

        return c != 0 ? c : DestinationSelector.CompareRoom(y, x);
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
}
