using System.Collections.Immutable;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>
/// Which pages of a campaign's hosts differ from what was last stored, so a pass writes only those: a 10,000-host
/// campaign whose pass changed three hosts writes at most three pages of <see cref="ICampaignHostsPageGrain.PageSize"/>,
/// where it once wrote all 10,000 on every change.
/// </summary>
public static class CampaignHostPages
{
    public static int CountFor(int hosts, int pageSize = ICampaignHostsPageGrain.PageSize) => (hosts + pageSize - 1) / pageSize;

    public static ImmutableArray<CampaignHost> Page(ImmutableArray<CampaignHost> hosts, int page, int pageSize = ICampaignHostsPageGrain.PageSize) =>
        hosts.Skip(page * pageSize).Take(pageSize).ToImmutableArray();

    /// <summary>The pages of <paramref name="hosts"/> that are not in <paramref name="stored"/> as they are now (all,
    /// when nothing is known to be stored).</summary>
    public static IEnumerable<int> Changed(IReadOnlyList<ImmutableArray<CampaignHost>>? stored, ImmutableArray<CampaignHost> hosts, int pageSize = ICampaignHostsPageGrain.PageSize)
    {
        var count = CountFor(hosts.Length, pageSize);
        for (var p = 0; p < count; p++)
        {
            if (stored is null || p >= stored.Count || !Same(stored[p], hosts, p * pageSize, pageSize))
            {
                yield return p;
            }
        }
    }

    private static bool Same(ImmutableArray<CampaignHost> page, ImmutableArray<CampaignHost> hosts, int start, int pageSize)
    {
        var length = Math.Min(pageSize, hosts.Length - start);
        if (page.Length != length)
        {
            return false;
        }

        for (var i = 0; i < length; i++)
        {
            var (a, b) = (page[i], hosts[start + i]);
            if (!ReferenceEquals(a, b) && a != b)
            {
                return false;
            }
        }

        return true;
    }
}
