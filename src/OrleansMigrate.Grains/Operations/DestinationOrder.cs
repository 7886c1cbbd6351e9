using OrleansMigrate.Fleet;

namespace OrleansMigrate.Operations;

/// <summary>
/// The order in which a drain tries destinations: on the preferred firmware first (a campaign's upgraded hosts, so no
/// VM moves twice), then the most free memory, then the most free cores. Hosts equal on all three are ordered by a hash
/// of the host id salted with the draining host's id: every drain of a campaign batch reads the same fleet view, and
/// without the salt they would all send their VMs to the same few hosts, which then refuse all but the first.
/// </summary>
public sealed class DestinationOrder(string? preferFirmware, string salt) : IComparer<HostRecord>
{
    private readonly uint _salt = Naming.StableHash.Fnv1a(salt, Naming.StableHash.Fnv1a("/"));

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

        var c = Preferred(y).CompareTo(Preferred(x));
        if (c == 0)
        {
            c = y.FreeMemoryMiB.CompareTo(x.FreeMemoryMiB);
        }

        if (c == 0)
        {
            c = y.FreeVcpus.CompareTo(x.FreeVcpus);
        }

        if (c == 0)
        {
            c = Spread(x.HostId).CompareTo(Spread(y.HostId));
        }

        return c != 0 ? c : string.CompareOrdinal(x.HostId, y.HostId);
    }

    private bool Preferred(HostRecord host) => preferFirmware is not null && host.Spec.FirmwareVersion == preferFirmware;

    /// <summary>FNV-1a over the salt and the host id: stable across processes and runs, unlike string hash codes.</summary>
    private uint Spread(string hostId) => Naming.StableHash.Fnv1a(hostId, _salt);
}
