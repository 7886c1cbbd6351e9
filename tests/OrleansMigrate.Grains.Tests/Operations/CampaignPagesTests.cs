using System.Collections.Immutable;
using OrleansMigrate.Client;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Operations;
using OrleansMigrate.Tests.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Operations;

/// <summary>Which pages of a campaign's hosts a save writes: only those that changed.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class CampaignHostPagesTests
{
    private static ImmutableArray<CampaignHost> Hosts(int n) =>
        [.. Enumerable.Range(0, n).Select(i => new CampaignHost($"h-{i:D4}", CampaignHostState.Waiting, "1.0.0"))];

    private static List<ImmutableArray<CampaignHost>> Stored(ImmutableArray<CampaignHost> hosts, int pageSize) =>
        [.. Enumerable.Range(0, CampaignHostPages.CountFor(hosts.Length, pageSize)).Select(p => CampaignHostPages.Page(hosts, p, pageSize))];

    [Fact]
    public void Nothing_stored_writes_every_page_and_nothing_changed_writes_none()
    {
        var hosts = Hosts(10);

        Assert.Equal([0, 1, 2], CampaignHostPages.Changed(null, hosts, pageSize: 4));
        Assert.Empty(CampaignHostPages.Changed(Stored(hosts, 4), hosts, pageSize: 4));
        Assert.Equal(3, CampaignHostPages.CountFor(10, 4));
        Assert.Equal(["h-0008", "h-0009"], CampaignHostPages.Page(hosts, 2, 4).Select(h => h.HostId));
    }

    [Fact]
    public void A_changed_host_writes_its_page_only_even_when_an_equal_copy_replaced_others()
    {
        var hosts = Hosts(10);
        var stored = Stored(hosts, 4);

        // Host 5 changed (page 1); host 0 replaced by an equal copy (page 0 stays as stored).
        var next = hosts.SetItem(5, hosts[5] with { State = CampaignHostState.Draining }).SetItem(0, hosts[0] with { });

        Assert.Equal([1], CampaignHostPages.Changed(stored, next, pageSize: 4));
    }

    [Fact]
    public void Pages_stored_for_fewer_hosts_are_written_again()
    {
        var stored = Stored(Hosts(6), 4);

        Assert.Equal([1, 2], CampaignHostPages.Changed(stored, Hosts(10), pageSize: 4));
    }
}

/// <summary>A campaign of more hosts than a page holds: its hosts are stored in pages that hold exactly them.</summary>
[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Slow)] // one campaign over more hosts than a page: ~40 s
public sealed class CampaignPagesTests(MigrationClusterFixture fixture)
{
    private OmigClient Client => fixture.Client;

    [Fact]
    public async Task A_campaign_of_more_hosts_than_a_page_stores_them_in_pages_that_read_back_as_its_hosts()
    {
        var group = "g" + Guid.NewGuid().ToString("N")[..8];
        var count = ICampaignHostsPageGrain.PageSize + 20;
        for (var i = 0; i < count; i++)
        {
            var spec = TestFleet.Host(TestFleet.Unique("cp"), cores: 64, memoryMiB: 256 * 1024);
            await Client.AddHostAsync(spec with { Labels = spec.Labels.Add("group", group) });
        }

        var campaign = await Client.StartCampaignAsync(new CampaignSpec("2.0.0", "group", group, Batch: 50, MaxParallelMigrations: 50));
        var last = campaign;
        try
        {
            campaign = await Eventually.UntilAsync(async () => last = await Client.GetCampaignAsync(campaign.CampaignId), c => c.IsEnded,
                TimeSpan.FromSeconds(120), $"campaign {campaign.CampaignId} ends", TimeSpan.FromMilliseconds(200));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"campaign did not end: {last.HostsUpgraded} of {count} upgraded", ex);
        }

        Assert.Equal(CampaignState.Completed, campaign.State);
        Assert.Equal(count, campaign.HostsUpgraded);
        var pages = await Task.WhenAll(Enumerable.Range(0, 3).Select(p =>
            fixture.Cluster.Client.GetGrain<ICampaignHostsPageGrain>(ICampaignHostsPageGrain.Key(campaign.CampaignId, p)).GetAsync()));
        Assert.Equal([ICampaignHostsPageGrain.PageSize, 20, 0], pages.Select(p => p.Length));
        // Records compare their Unmovable arrays by reference (each read is a copy): compare what they hold.
        static string Describe(CampaignHost h) => $"{h with { Unmovable = [] }} [{string.Join("; ", h.Unmovable)}]";
        Assert.Equal(campaign.Hosts.Select(Describe), pages.SelectMany(p => p).Select(Describe));
    }
}
