using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Tests.Migration;

namespace OrleansMigrate.Tests.Operations;

[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class FleetViewCacheTests(MigrationClusterFixture fixture)
{
    [Fact]
    public async Task A_read_right_after_an_invalidation_sees_the_change_even_when_the_last_fetch_was_moments_ago()
    {
        // A campaign invalidates the view when a host comes back upgraded and at once starts the next drains, which read
        // it: they must see that host as it is now. (A 100 ms floor between refreshes once served them the view from just
        // before, their VMs went to hosts not yet upgraded and moved twice — CampaignTests failed so, 1 run in 3.)
        var cache = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<FleetViewCache>();
        var host = TestFleet.Unique("fv");
        await fixture.Client.AddHostAsync(TestFleet.Host(host, cores: 16, memoryMiB: 65536));

        // The host's grains warm (its drain grain too), so the change below takes milliseconds.
        await fixture.Client.UncordonHostAsync(host);
        await fixture.Client.CordonHostAsync(host);
        cache.Invalidate(); // earlier tests' view lacks the new host
        var before = await cache.HostsAsync(TimeSpan.FromMinutes(5));
        Assert.Equal(SchedulingState.Cordoned, before.Single(h => h.HostId == host).Scheduling);

        await fixture.Client.UncordonHostAsync(host);
        cache.Invalidate();
        var after = await cache.HostsAsync(TimeSpan.FromMinutes(5));
        Assert.Equal(SchedulingState.Schedulable, after.Single(h => h.HostId == host).Scheduling);

        // Without a change, a read within its age is served from the cache (the cache still caches).
        Assert.Same(cache.HostsAsync(TimeSpan.FromMinutes(5)), cache.HostsAsync(TimeSpan.FromMinutes(5)));
    }
}
