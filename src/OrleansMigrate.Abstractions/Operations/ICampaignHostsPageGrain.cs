using System.Collections.Immutable;

namespace OrleansMigrate.Operations;

/// <summary>
/// One page of a campaign's hosts as stored (key: "{campaign id}/{page}"): the campaign keeps its hosts in pages of
/// <see cref="PageSize"/> so a pass that changes a few hosts writes their pages, not every host of a 10,000-host
/// campaign. Only the campaign grain reads and writes its pages.
/// </summary>
[Alias("omig.ICampaignHostsPageGrain")]
public interface ICampaignHostsPageGrain : IGrainWithStringKey
{
    /// <summary>Hosts per page.</summary>
    public const int PageSize = 256;

    [Alias("Get")]
    Task<ImmutableArray<CampaignHost>> GetAsync();

    [Alias("Set")]
    Task SetAsync(ImmutableArray<CampaignHost> hosts);

    public static string Key(string campaignId, int page) => $"{campaignId}/{page}";
}
