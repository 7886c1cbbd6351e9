using Orleans.Runtime.MembershipService.SiloMetadata;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Grains.Placement;

/// <summary>
/// Answers "which live silos have role R / serve host H" from Orleans membership and silo metadata.
/// Metadata of a silo that just joined reaches the cache a moment after membership does, so lookups
/// that find an active silo without metadata wait briefly for it rather than fail.
/// </summary>
public sealed class SiloDirectory(IClusterMembershipService membership, ISiloMetadataCache metadata)
{
    private static readonly TimeSpan MetadataWait = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan MetadataPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>Active silos among <paramref name="candidates"/> that have <paramref name="role"/>.</summary>
    public async Task<IReadOnlyList<SiloAddress>> WithRoleAsync(IEnumerable<SiloAddress> candidates, string role)
    {
        var list = candidates.ToList();
        return await WaitForMetadataAsync(list, () =>
            list.Where(s => IsActive(s) && Roles(s).Contains(role, StringComparer.Ordinal)).ToList());
    }

    /// <summary>The silos that serve <paramref name="hostId"/>: those naming it, else those serving <c>*</c>.</summary>
    public async Task<IReadOnlyList<SiloAddress>> ServingHostAsync(IEnumerable<SiloAddress> candidates, string hostId)
    {
        var list = candidates.ToList();
        return await WaitForMetadataAsync(list, () =>
        {
            var hostSilos = list.Where(s => IsActive(s) && Roles(s).Contains("host", StringComparer.Ordinal)).ToList();
            var named = hostSilos.Where(s => Hosts(s).Contains(hostId, StringComparer.Ordinal)).ToList();
            if (named.Count > 0)
            {
                return named;
            }

            // A wildcard silo serves only hosts that no live silo names explicitly.
            return hostSilos.Where(s => Hosts(s).Contains(SiloMetadataKeys.AnyHost, StringComparer.Ordinal)).ToList();
        });
    }

    /// <summary>Whether a live silo serves <paramref name="hostId"/> now, in this silo's view of the membership: a caller waiting
    /// for the host's agent asks this before calling, instead of sending a message the cluster can only refuse.</summary>
    public async Task<bool> AnyServesAsync(string hostId) =>
        (await ServingHostAsync(membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress), hostId)).Count > 0;

    /// <summary>The silo that serves (or last served) <paramref name="hostId"/> by name, for messages: <c>silo silo-b at
    /// 127.0.0.1:11112</c>, the newest incarnation first; null when no silo in membership names the host (a dead silo's
    /// metadata may already be gone).</summary>
    public string? Describe(string hostId)
    {
        var member = membership.CurrentSnapshot.Members.Values
            .Where(m => Hosts(m.SiloAddress).Contains(hostId, StringComparer.Ordinal))
            .OrderByDescending(m => m.SiloAddress.Generation)
            .FirstOrDefault();
        return member is null
            ? null
            : $"silo {member.Name} at {member.SiloAddress.Endpoint}{(member.Status == SiloStatus.Dead ? ", declared dead" : "")}";
    }

    public IReadOnlyList<string> Roles(SiloAddress silo) => SiloMetadataKeys.Split(Get(silo, SiloMetadataKeys.Roles));

    public IReadOnlyList<string> Hosts(SiloAddress silo) => SiloMetadataKeys.Split(Get(silo, SiloMetadataKeys.Hosts));

    private string? Get(SiloAddress silo, string key) =>
        metadata.GetSiloMetadata(silo).Metadata.TryGetValue(key, out var value) ? value : null;

    private bool IsActive(SiloAddress silo) => membership.CurrentSnapshot.GetSiloStatus(silo) == SiloStatus.Active;

    private bool HasMetadata(SiloAddress silo) => metadata.GetSiloMetadata(silo).Metadata.ContainsKey(SiloMetadataKeys.Roles);

    private async Task<IReadOnlyList<SiloAddress>> WaitForMetadataAsync(List<SiloAddress> candidates, Func<List<SiloAddress>> select)
    {
        var deadline = DateTime.UtcNow + MetadataWait;
        while (true)
        {
            // Wait while any active silo's metadata is still unknown, even when something matched: the
            // unknown silo may be the one that names the host, and it must win over a wildcard.
            var found = select();
            var pending = candidates.Any(s => IsActive(s) && !HasMetadata(s));
            if (!pending || DateTime.UtcNow >= deadline)
            {
                return found;
            }

            await Task.Delay(MetadataPoll);
        }
    }
}
