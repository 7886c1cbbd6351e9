using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;
using OrleansMigrate.Tests.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Operations;

/// <summary>A cluster of its own for fleet operations (drains cordon hosts; campaigns upgrade them).</summary>
[CollectionDefinition(Name)]
public sealed class OperationsCollection : ICollectionFixture<MigrationClusterFixture>
{
    public const string Name = "operations";
}

/// <summary>
/// Host drains. Each test builds its own hosts with a CPU flag only they have and VMs that require it, so a drain
/// can only place VMs on that test's hosts.
/// </summary>
[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class HostDrainTests(MigrationClusterFixture fixture) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    private OmigClient Client => fixture.Client;

    public void Dispose() => fixture.Faults.Clear();

    [Fact]
    public async Task A_drain_moves_every_movable_VM_and_reports_the_unmovable_one_with_its_reason()
    {
        var (hosts, flag) = await HostsAsync(3);
        // The pass-through VM's policy never moves it cold, so it cannot move at all.
        var vms = new[]
        {
            await VmAsync(hosts[0], flag), await VmAsync(hosts[0], flag),
            await VmAsync(hosts[0], flag, passthrough: true, labels: ImmutableDictionary<string, string>.Empty.Add(MigrationPolicyOptions.PolicyLabel, "no-cold")),
        };

        var drain = await WaitAsync(await Client.DrainHostAsync(hosts[0], new DrainOptions(MaxParallel: 2)));

        Assert.Equal(DrainState.Incomplete, drain.State);
        Assert.Equal(3, drain.Vms.Length);
        var unmovable = Assert.Single(drain.Vms, v => v.State == DrainVmState.Unmovable);
        Assert.Equal(vms[2].VmId, unmovable.VmId);
        Assert.Contains("pass-through", unmovable.Reason);
        Assert.Contains("never moves it cold", unmovable.Reason);
        Assert.All(drain.Vms.Where(v => v.VmId != vms[2].VmId), v => Assert.Equal(DrainVmState.Moved, v.State));
        foreach (var vm in vms[..2])
        {
            Assert.NotEqual(hosts[0], (await Client.GetVmAsync(vm.VmId)).HostId);
        }

        // The unmovable VM still runs where it was; the host stays cordoned so nothing new lands on it.
        Assert.Equal(hosts[0], (await Client.GetVmAsync(vms[2].VmId)).HostId);
        Assert.Equal(SchedulingState.Cordoned, (await Client.GetHostAsync(hosts[0])).Scheduling);
        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
    }

    [Fact]
    public async Task A_drain_moves_a_VM_that_cannot_move_live_cold_in_its_window_and_leaves_one_whose_policy_never_moves_cold()
    {
        var (hosts, flag) = await HostsAsync(2);
        // Its class never live-migrates; its policy allows cold moves inside a window open now.
        var cold = await VmAsync(hosts[0], flag, labels: ImmutableDictionary<string, string>.Empty.Add(MigrationPolicyOptions.PolicyLabel, "cold-window"));
        var live = await VmAsync(hosts[0], flag);
        var pinned = await VmAsync(hosts[0], flag, passthrough: true, labels: ImmutableDictionary<string, string>.Empty.Add(MigrationPolicyOptions.PolicyLabel, "no-cold"));

        var drain = await WaitAsync(await Client.DrainHostAsync(hosts[0], new DrainOptions(MaxParallel: 2)));

        Assert.Equal(DrainState.Incomplete, drain.State);
        var moved = Assert.Single(drain.Vms, v => v.VmId == cold.VmId);
        Assert.Equal(DrainVmState.Moved, moved.State);
        var migration = await Client.GetMigrationAsync(moved.MigrationId!);
        Assert.True(migration.Request.Cold);
        Assert.Equal(MigrationPhase.Completed, migration.Phase);
        Assert.True(migration.Cold!.DowntimeMs > 0);
        Assert.Equal(DrainVmState.Moved, Assert.Single(drain.Vms, v => v.VmId == live.VmId).State);
        Assert.False((await Client.GetMigrationAsync(Assert.Single(drain.Vms, v => v.VmId == live.VmId).MigrationId!)).Request.Cold);
        var left = Assert.Single(drain.Vms, v => v.VmId == pinned.VmId);
        Assert.Equal(DrainVmState.Unmovable, left.State);
        Assert.Contains("never moves it cold", left.Reason);

        Assert.Equal(hosts[1], (await Client.GetVmAsync(cold.VmId)).HostId);
        Assert.Equal(PowerState.Running, (await Client.GetVmAsync(cold.VmId)).Power);
        Assert.Equal(hosts[0], (await Client.GetVmAsync(pinned.VmId)).HostId);
        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
    }

    [Fact]
    public async Task A_complete_drain_leaves_the_host_empty_in_maintenance_and_uncordon_returns_it_to_service()
    {
        var (hosts, flag) = await HostsAsync(2);
        await VmAsync(hosts[0], flag);
        await VmAsync(hosts[0], flag);
        // One migration rolls back on the way (its prepare fails all three tries): the drain retries it.
        fixture.Faults.FailNext(FaultSteps.MigrationPrepare, times: 3);

        var drain = await WaitAsync(await Client.DrainHostAsync(hosts[0], new DrainOptions(MaxParallel: 1)));

        Assert.Equal(DrainState.Completed, drain.State);
        Assert.All(drain.Vms, v => Assert.Equal(DrainVmState.Moved, v.State));
        Assert.Contains(drain.Vms, v => v.Attempts == 2);
        var host = await Client.GetHostAsync(hosts[0]);
        Assert.Empty(host.Vms);
        Assert.Empty(host.Reservations);
        Assert.Equal(SchedulingState.Maintenance, host.Scheduling);
        Assert.Equal(SchedulingState.Schedulable, (await Client.UncordonHostAsync(hosts[0])).Scheduling);
    }

    [Fact]
    public async Task An_aborted_drain_cancels_what_has_not_started_lets_the_running_migration_end_and_keeps_the_host_cordoned()
    {
        var (hosts, flag) = await HostsAsync(2);
        for (var i = 0; i < 4; i++)
        {
            await VmAsync(hosts[0], flag);
        }

        // Slow pre-staging, so the first migration is still running when the abort comes.
        fixture.Faults.Delay(FaultSteps.DiskOpenReadOnly, TimeSpan.FromMilliseconds(600));
        var started = await Client.DrainHostAsync(hosts[0], new DrainOptions(MaxParallel: 1));
        Assert.Equal(DrainState.Running, started.State);
        var conflict = await Assert.ThrowsAsync<OmigException>(() => Client.UncordonHostAsync(hosts[0]));
        Assert.Equal(OmigErrorCode.Conflict, conflict.Code);

        await Client.AbortDrainAsync(hosts[0], "change freeze");
        var drain = await WaitAsync(await Client.GetDrainAsync(hosts[0]));

        Assert.Equal(DrainState.Aborted, drain.State);
        Assert.Contains("change freeze", drain.Note);
        Assert.True(drain.Vms.Count(v => v.State == DrainVmState.Skipped) >= 3, string.Join(", ", drain.Vms.Select(v => $"{v.VmId} {v.State}")));
        Assert.DoesNotContain(drain.Vms, v => v.State is DrainVmState.Pending or DrainVmState.Migrating);
        Assert.Empty(await Client.ListMigrationsAsync(includeEnded: false));
        Assert.Equal(SchedulingState.Cordoned, (await Client.GetHostAsync(hosts[0])).Scheduling);
        Assert.True((await FleetAuditor.AuditAsync(Client)).Clean);
    }

    [Fact]
    public async Task A_VM_whose_policy_notifies_its_owner_is_announced_before_it_moves_and_the_others_are_not()
    {
        var (hosts, flag) = await HostsAsync(2);
        var notified = await VmAsync(hosts[0], flag, labels: ImmutableDictionary<string, string>.Empty
            .Add(OrleansMigrate.Grains.Migration.MigrationPolicyOptions.PolicyLabel, "notify").Add("owner", "team-payments"));
        var quiet = await VmAsync(hosts[0], flag);
        var notifier = (OwnerNotifier)fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IOwnerNotifier>();
        var before = DateTimeOffset.UtcNow;

        var drain = await WaitAsync(await Client.DrainHostAsync(hosts[0]));

        Assert.Equal(DrainState.Completed, drain.State);
        var notice = Assert.Single(notifier.Sent, n => n.VmId == notified.VmId && n.At >= before);
        Assert.Equal(("team-payments", "notify"), (notice.Owner, notice.Policy));
        Assert.Contains(hosts[0], notice.Operation);
        Assert.True(drain.Vms.Single(v => v.VmId == notified.VmId).OwnerNotified);
        Assert.DoesNotContain(notifier.Sent, n => n.VmId == quiet.VmId);
        var migration = await Client.GetMigrationAsync(drain.Vms.Single(v => v.VmId == notified.VmId).MigrationId!);
        Assert.True(notice.At <= migration.CreatedAt, "the owner heard after the migration was created");
    }

    [Fact]
    public async Task Bad_drain_input_is_refused_naming_the_field_and_changes_nothing()
    {
        var (hosts, _) = await HostsAsync(1);

        var parallel = await Assert.ThrowsAsync<OmigException>(() => Client.DrainHostAsync(hosts[0], new DrainOptions(MaxParallel: 0)));
        var policy = await Assert.ThrowsAsync<OmigException>(() => Client.DrainHostAsync(hosts[0], new DrainOptions(Policy: "nope")));
        var missing = await Assert.ThrowsAsync<OmigException>(() => Client.DrainHostAsync("no-such-host"));

        Assert.Equal(("max-parallel", OmigErrorCode.InvalidArgument), (parallel.Field, parallel.Code));
        Assert.Equal(("policy", OmigErrorCode.InvalidArgument), (policy.Field, policy.Code));
        Assert.Equal(OmigErrorCode.NotFound, missing.Code);
        Assert.Equal(SchedulingState.Schedulable, (await Client.GetHostAsync(hosts[0])).Scheduling);
        await Assert.ThrowsAsync<OmigException>(() => Client.GetDrainAsync(hosts[0]));
    }

    [Fact]
    public async Task A_second_drain_joins_the_running_one_and_a_later_drain_keeps_the_earlier_ones_record()
    {
        var (hosts, flag) = await HostsAsync(2);
        await VmAsync(hosts[0], flag);
        await VmAsync(hosts[0], flag);
        fixture.Faults.Delay(FaultSteps.DiskOpenReadOnly, TimeSpan.FromMilliseconds(400));

        var first = await Client.DrainHostAsync(hosts[0], new DrainOptions(MaxParallel: 2));
        var again = await Client.DrainHostAsync(hosts[0], new DrainOptions(MaxParallel: 1));

        Assert.Equal(DrainState.Running, again.State);
        Assert.Equal(first.StartedAt, again.StartedAt);
        Assert.Equal(2, again.Options.MaxParallel);
        fixture.Faults.Clear();
        var ended = await WaitAsync(again);
        Assert.Equal(DrainState.Completed, ended.State);
        Assert.All(ended.Vms, v => Assert.Equal(DrainVmState.Moved, v.State));

        // A new drain of the (now empty) host: the first one's moves stay on record.
        var later = await WaitAsync(await Client.DrainHostAsync(hosts[0]));
        var history = await Client.GetDrainHistoryAsync(hosts[0]);

        Assert.True(later.StartedAt > first.StartedAt);
        var earlier = Assert.Single(history);
        Assert.Equal((first.StartedAt, DrainState.Completed), (earlier.StartedAt, earlier.State));
        Assert.Equal(ended.Vms.Select(v => (v.VmId, v.MigrationId)), earlier.Vms.Select(v => (v.VmId, v.MigrationId)));
        Assert.Equal(2, earlier.Vms.Count(v => v.State == DrainVmState.Moved && v.MigrationId is not null));
    }

    [Fact]
    public async Task A_drain_started_while_a_VM_is_already_migrating_off_the_host_waits_for_that_migration_and_records_it()
    {
        var (hosts, flag) = await HostsAsync(2);
        var vm = await VmAsync(hosts[0], flag);
        fixture.Faults.Delay(FaultSteps.DiskOpenReadOnly, TimeSpan.FromMilliseconds(800));
        var manual = await Client.MigrateAsync(new OrleansMigrate.Migration.MigrationRequest(vm.VmId, hosts[1]));

        var drain = await Client.DrainHostAsync(hosts[0]);

        var tracked = Assert.Single(drain.Vms);
        Assert.Equal((vm.VmId, DrainVmState.Migrating, manual.MigrationId), (tracked.VmId, tracked.State, tracked.MigrationId));
        fixture.Faults.Clear();
        var ended = await WaitAsync(drain);
        Assert.Equal(DrainState.Completed, ended.State);
        var moved = Assert.Single(ended.Vms);
        Assert.Equal((DrainVmState.Moved, manual.MigrationId, hosts[1]), (moved.State, moved.MigrationId, moved.Destination));
    }

    private async Task<(string[] Hosts, string Flag)> HostsAsync(int count)
    {
        var flag = "drn_" + Guid.NewGuid().ToString("N")[..8];
        var ids = Enumerable.Range(0, count).Select(_ => TestFleet.Unique("dh")).ToArray();
        foreach (var id in ids)
        {
            await Client.AddHostAsync(TestFleet.Host(id, cores: 64, memoryMiB: 256 * 1024, features: ["avx", flag]));
        }

        return (ids, flag);
    }

    private async Task<VmSpec> VmAsync(string host, string flag, bool passthrough = false, ImmutableDictionary<string, string>? labels = null)
    {
        var id = TestFleet.Unique("dv");
        var spec = TestFleet.Vm(id, vcpus: 2, memoryMiB: 4096, features: [flag], ip: TestFleet.RandomIp()) with
        {
            Labels = (labels ?? ImmutableDictionary<string, string>.Empty).Add("sim.dirty-mbps", "5"),
            PassthroughDevices = passthrough ? [new PassthroughDevice("0000:3b:00.0", "gpu")] : [],
        };
        await Client.CreateVmAsync(spec, host);
        return spec;
    }

    private async Task<DrainStatus> WaitAsync(DrainStatus drain)
    {
        var last = drain;
        try
        {
            return await Eventually.UntilAsync(async () => last = await Client.GetDrainAsync(drain.HostId), d => d.IsEnded, Limit,
                $"the drain of {drain.HostId} ends", TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"drain of {drain.HostId} did not end: {string.Join(", ", last.Vms.Select(v => $"{v.VmId} {v.State} {v.Reason}"))}", ex);
        }
    }
}
