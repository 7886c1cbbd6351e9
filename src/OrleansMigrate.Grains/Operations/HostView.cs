using System.Collections.Concurrent;
using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Grains.Operations;

/// <summary>
/// One read of the fleet's host records, with what fleet operations derive from it computed once per read instead of
/// once per drain pass or campaign pass: the destination ranking per preferred firmware (<see cref="RankedFor"/>) and
/// the records by id. A campaign of a 10,000-host fleet runs dozens of drains, each choosing destinations several
/// times a second; ranking the whole fleet in each of those passes made a migration's cost grow with the fleet.
/// </summary>
public sealed class HostView
{
    private readonly ConcurrentDictionary<string, RankedHosts> _ranked = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (long Vcpus, long MemoryMiB)> _freeOnOrAbove = new(StringComparer.Ordinal);
    private readonly Lazy<ImmutableDictionary<string, HostRecord>> _byId;

    public HostView(ImmutableArray<HostRecord> hosts)
    {
        Hosts = hosts;
        _byId = new(() => hosts.ToImmutableDictionary(h => h.HostId, StringComparer.Ordinal), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public ImmutableArray<HostRecord> Hosts { get; }

    /// <summary>The records by host id (built on first use).</summary>
    public ImmutableDictionary<string, HostRecord> ById => _byId.Value;

    /// <summary>The hosts ranked for drains that prefer <paramref name="preferFirmware"/> (or none), built once per
    /// snapshot and shared by every drain that reads it.</summary>
    public RankedHosts RankedFor(string? preferFirmware) =>
        _ranked.GetOrAdd(preferFirmware ?? "", (_, hosts) => new RankedHosts(hosts.Hosts, preferFirmware), this);

    /// <summary>Free cores and memory summed over the schedulable, healthy hosts on <paramref name="firmware"/> or newer
    /// (where a campaign to that version may send VMs), summed once per snapshot.</summary>
    public (long Vcpus, long MemoryMiB) FreeOnOrAbove(string firmware) =>
        _freeOnOrAbove.GetOrAdd(firmware, static (version, hosts) =>
        {
            long vcpus = 0, memory = 0;
            foreach (var host in hosts)
            {
                if (DestinationSelector.TakesVms(host) && VersionNumber.Compare(host.Spec.FirmwareVersion, version) >= 0)
                {
                    vcpus += host.FreeVcpus;
                    memory += host.FreeMemoryMiB;
                }
            }

            return (vcpus, memory);
        }, Hosts);
}
