using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Tests.Migration;
using OrleansMigrate.Tests.Operations;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Fleet;

/// <summary>The host directory the silos' fleet views are kept up to date from: what it takes, what a reader gets.</summary>
[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class HostDirectoryTests(MigrationClusterFixture fixture)
{
    private IHostDirectoryGrain Directory => fixture.Cluster.Client.GetGrain<IHostDirectoryGrain>(IHostDirectoryGrain.Key);

    [Fact]
    public async Task A_reader_gets_each_change_once_after_its_cursor_and_everything_on_a_new_epoch()
    {
        var host = TestFleet.Unique("hd");
        await fixture.Client.AddHostAsync(TestFleet.Host(host));
        var first = await Directory.ChangesSinceAsync(Guid.Empty, 0);
        Assert.True(first.Full);
        Assert.Contains(first.Changed, h => h.HostId == host);

        // Nothing changed since: nothing read. A cordon: exactly that host, as it is now.
        var none = await Directory.ChangesSinceAsync(first.Epoch, first.Cursor);
        Assert.DoesNotContain(none.Changed, h => h.HostId == host);
        await fixture.Client.CordonHostAsync(host);
        var cordoned = await Directory.ChangesSinceAsync(first.Epoch, first.Cursor);
        Assert.False(cordoned.Full);
        Assert.Equal(SchedulingState.Cordoned, Assert.Single(cordoned.Changed, h => h.HostId == host).Scheduling);

        // Unregistered: listed as removed for a reader that had it, absent for a new reader.
        await fixture.Client.RemoveHostAsync(host);
        var removed = await Directory.ChangesSinceAsync(cordoned.Epoch, cordoned.Cursor);
        Assert.Contains(host, removed.Removed);
        Assert.DoesNotContain((await Directory.ChangesSinceAsync(Guid.Empty, 0)).Changed, h => h.HostId == host);
    }

    [Fact]
    public async Task A_change_arriving_late_never_replaces_a_newer_one()
    {
        var host = TestFleet.Unique("hd");
        await fixture.Client.AddHostAsync(TestFleet.Host(host));
        await fixture.Client.CordonHostAsync(host);
        var now = (await Directory.ChangesSinceAsync(Guid.Empty, 0)).Changed.Single(h => h.HostId == host);

        // The registration's record (change 1), delivered again after the cordon (change 2): ignored.
        await Directory.PublishAsync(host, now with { Scheduling = SchedulingState.Schedulable }, new HostVersion(now.RegisteredAt, 1));

        var after = (await Directory.ChangesSinceAsync(Guid.Empty, 0)).Changed.Single(h => h.HostId == host);
        Assert.Equal(SchedulingState.Cordoned, after.Scheduling);
    }

    [Fact]
    public async Task A_new_directory_fills_itself_from_the_registry_and_says_when_it_is_complete()
    {
        var host = TestFleet.Unique("hd");
        await fixture.Client.AddHostAsync(TestFleet.Host(host));

        // A directory under another key activates empty: it never heard this host's publish.
        var fresh = fixture.Cluster.Client.GetGrain<IHostDirectoryGrain>(TestFleet.Unique("dir"));
        var changes = await Eventually.UntilAsync(() => fresh.ChangesSinceAsync(Guid.Empty, 0), c => c.Complete, TimeSpan.FromSeconds(30),
            "the directory fills itself");
        Assert.Contains(changes.Changed, h => h.HostId == host);
    }

    [Fact]
    public async Task A_refill_heals_a_record_whose_publish_was_lost_and_drops_a_host_no_longer_registered()
    {
        var host = TestFleet.Unique("hd");
        await fixture.Client.AddHostAsync(TestFleet.Host(host));
        var fresh = fixture.Cluster.Client.GetGrain<IHostDirectoryGrain>(TestFleet.Unique("dir"));
        await WaitCompleteAsync(fresh);
        var stored = (await fresh.ChangesSinceAsync(Guid.Empty, 0)).Changed.Single(h => h.HostId == host);

        // What a lost publish leaves behind: a record the host no longer stores (here under a later version than the
        // host's own), and a host the registry no longer has.
        await fresh.PublishAsync(host, stored with { Scheduling = SchedulingState.Cordoned }, new HostVersion(stored.RegisteredAt, 999));
        var ghost = TestFleet.Unique("ghost");
        await fresh.PublishAsync(ghost, stored with { Spec = stored.Spec with { HostId = ghost } }, new HostVersion(stored.RegisteredAt, 1));
        var wrong = await fresh.ChangesSinceAsync(Guid.Empty, 0);
        Assert.Equal(SchedulingState.Cordoned, wrong.Changed.Single(h => h.HostId == host).Scheduling);
        Assert.Contains(wrong.Changed, h => h.HostId == ghost);

        await fresh.RefillAsync();

        var healed = await fresh.ChangesSinceAsync(wrong.Epoch, wrong.Cursor);
        Assert.Equal(SchedulingState.Schedulable, healed.Changed.Single(h => h.HostId == host).Scheduling);
        Assert.Contains(ghost, healed.Removed);
    }

    private static Task WaitCompleteAsync(IHostDirectoryGrain directory) =>
        Eventually.UntilAsync(() => directory.ChangesSinceAsync(Guid.Empty, 0), c => c.Complete, TimeSpan.FromSeconds(30), "the directory fills itself");

    [Fact]
    public async Task The_silo_view_read_from_changes_equals_the_registry()
    {
        var cache = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<FleetViewCache>();
        var hosts = Enumerable.Range(0, 3).Select(_ => TestFleet.Unique("hd")).ToList();
        foreach (var id in hosts)
        {
            await fixture.Client.AddHostAsync(TestFleet.Host(id));
        }

        await fixture.Client.CordonHostAsync(hosts[1]);
        await fixture.Client.RemoveHostAsync(hosts[2]);
        cache.Invalidate();
        var view = await cache.ViewAsync(TimeSpan.FromMinutes(5));
        var registry = await fixture.Client.ListHostsAsync();

        Assert.Equal(registry.Select(Describe).Order(StringComparer.Ordinal), view.Hosts.Select(Describe).Order(StringComparer.Ordinal));
        Assert.Equal(SchedulingState.Cordoned, view.ById[hosts[1]].Scheduling);
        Assert.False(view.ById.ContainsKey(hosts[2]));
    }

    private static string Describe(HostRecord h) =>
        $"{h.HostId} {h.Scheduling} {h.Health} {h.Spec.FirmwareVersion} {string.Join(',', h.Vms.Keys.Order(StringComparer.Ordinal))} {string.Join(',', h.Reservations.Keys.Order(StringComparer.Ordinal))}";
}
