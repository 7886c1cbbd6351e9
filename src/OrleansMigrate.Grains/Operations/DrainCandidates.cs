using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Operations;

/// <summary>
/// The destinations one drain pass considers, best first: the first few hosts of the snapshot's ranking
/// (<see cref="RankedHosts.Walk"/>), enough for every VM the pass may submit, kept in order as the pass reserves capacity
/// on them — a host that took a VM ranks by what it has left, so the next VM goes to the next best. Only when none of
/// these can take a VM does the pass read the rest of the ranking (<see cref="TakeAll"/>), so a pass costs the VMs it
/// places, not the fleet's size, and chooses exactly what a pass over the whole ranking would.
/// </summary>
public sealed class DrainCandidates
{
    private readonly IEnumerator<HostRecord> _rest;
    private readonly Dictionary<string, int> _seq = new(StringComparer.Ordinal);
    private readonly PassOrder _order;
    private bool _exhausted;

    public DrainCandidates(IEnumerable<HostRecord> walk, string? preferFirmware, int take)
    {
        _order = new PassOrder(preferFirmware, _seq);
        _rest = walk.GetEnumerator();
        Take(Math.Max(1, take));
    }

    /// <summary>The hosts read so far, in order.</summary>
    public List<HostRecord> Hosts { get; } = [];

    /// <summary>True while the ranking has hosts not read yet.</summary>
    public bool HasMore => !_exhausted;

    /// <summary>Reads the rest of the ranking (a VM none of the first hosts could take).</summary>
    public void TakeAll() => Take(int.MaxValue);

    /// <summary>Replaces <paramref name="old"/> by <paramref name="updated"/> (the same host with this pass's
    /// reservation added) at the place its new free capacity earns.</summary>
    public void Replace(HostRecord old, HostRecord updated)
    {
        Hosts.Remove(old);
        var at = Hosts.BinarySearch(updated, _order);
        Hosts.Insert(at < 0 ? ~at : at, updated);
    }

    /// <summary>Drops a host for the rest of the pass (it refused at submit).</summary>
    public void Remove(HostRecord host) => Hosts.Remove(host);

    private void Take(int count)
    {
        var added = false;
        for (var i = 0; i < count; i++)
        {
            if (!_rest.MoveNext())
            {
                _exhausted = true;
                _rest.Dispose();
                break;
            }

            _seq[_rest.Current.HostId] = _seq.Count;
            Hosts.Add(_rest.Current);
            added = true;
        }

        if (added)
        {
            // Hosts read later rank after every earlier one by the walk's order, unless this pass's reservations have
            // since lowered an earlier one: one sort restores the order.
            Hosts.Sort(_order);
        }
    }

    /// <summary>The ranking's rule (<see cref="RankedHosts.Compare"/>) on the hosts' current records, ties broken by the
    /// order the walk gave them.</summary>
    private sealed class PassOrder(string? preferFirmware, Dictionary<string, int> seq) : IComparer<HostRecord>
    {
        public int Compare(HostRecord? x, HostRecord? y)
        {
            if (ReferenceEquals(x, y))
            {
                return 0;
            }

            if (x is null || y is null)
            {
                return x is null ? 1 : -1;
            }

            var c = RankedHosts.Compare(x, y, preferFirmware);
            return c != 0 ? c : seq.GetValueOrDefault(x.HostId, int.MaxValue).CompareTo(seq.GetValueOrDefault(y.HostId, int.MaxValue));
        }

    }
}
