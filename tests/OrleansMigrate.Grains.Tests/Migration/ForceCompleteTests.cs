using OrleansMigrate.Errors;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Migration;

/// <summary>
/// Force-complete (Nova's <c>force_complete</c>) and the switchover reason on the status; the queued reason from the
/// scheduler's own admission decision. Byte-real simulated guests (8 MiB) through the whole orchestration.
/// </summary>
[Collection(MigrationCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class ForceCompleteTests(MigrationClusterFixture fixture)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_migration_that_cannot_converge_completes_when_forced_and_says_forced()
    {
        // 50 MB/s of dirtying over a 4 MB/s link never converges to 0.2 ms; its limits are 30 rounds of ~2 s and 10 minutes.
        var vm = await fixture.CreateVmAsync("m-1", dirtyMbps: 50);
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2", Policy: "long-limit"));

        // It iterates: a second round starts and it is still in pre-copy with nothing decided.
        var iterating = await WaitUntilAsync(started.MigrationId, s => s.Phase == MigrationPhase.PreCopy && s.Progress.Round >= 2 || s.IsEnded);
        Assert.Equal(MigrationPhase.PreCopy, iterating.Phase);
        Assert.Null(iterating.SwitchoverReason);

        var accepted = await fixture.Client.ForceCompleteMigrationAsync(started.MigrationId, "test");
        Assert.True(accepted.Phase is MigrationPhase.PreCopy or MigrationPhase.PreLastCopy, $"{accepted.Phase}");
        var again = await fixture.Client.ForceCompleteMigrationAsync(started.MigrationId, "test"); // asking twice is harmless
        Assert.False(again.IsEnded);

        var final = await WaitUntilAsync(started.MigrationId, s => s.IsEnded);
        Assert.True(final.Phase == MigrationPhase.Completed, final.Failure);
        Assert.Equal("forced", final.SwitchoverReason);
        Assert.True(final.Progress.Round < 30, $"round {final.Progress.Round}: it ran into its round limit instead");
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);

        // Ended: a force-complete is a conflict saying why, and changes nothing.
        var ex = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.ForceCompleteMigrationAsync(started.MigrationId, "test"));
        Assert.Equal(OmigErrorCode.Conflict, ex.Code);
        Assert.Contains("completed", ex.Message, StringComparison.Ordinal);
        var after = await fixture.Client.GetMigrationAsync(started.MigrationId);
        Assert.Equal((MigrationPhase.Completed, final.Timeline.Length, "forced"), (after.Phase, after.Timeline.Length, after.SwitchoverReason));
    }

    [Fact]
    public async Task The_switchover_reason_says_converged_or_limit_as_the_data_plane_decided()
    {
        var calm = await fixture.CreateVmAsync("m-3", dirtyMbps: 1);
        var hot = await fixture.CreateVmAsync("m-2", dirtyMbps: 50);

        var converged = await WaitUntilAsync((await fixture.Client.MigrateAsync(new MigrationRequest(calm.VmId, "m-1"))).MigrationId, s => s.IsEnded);
        var limited = await WaitUntilAsync((await fixture.Client.MigrateAsync(new MigrationRequest(hot.VmId, "m-3", Policy: "short-limit"))).MigrationId, s => s.IsEnded);

        Assert.True(converged.Phase == MigrationPhase.Completed, converged.Failure);
        Assert.Equal("converged", converged.SwitchoverReason);
        Assert.True(limited.Phase == MigrationPhase.Completed, limited.Failure);
        Assert.Equal("limit", limited.SwitchoverReason);
    }

    /// <summary>m-1 and m-3 are in different scheduler shards; the destination's limit counts both (the admission ledger).</summary>
    [Fact]
    public async Task A_destination_limit_counts_migrations_admitted_by_other_scheduler_shards()
    {
        Assert.NotEqual(SchedulerShards.OfHost("m-1"), SchedulerShards.OfHost("m-3"));
        var vms = new[] { await fixture.CreateVmAsync("m-1", dirtyMbps: 50), await fixture.CreateVmAsync("m-3", dirtyMbps: 50), await fixture.CreateVmAsync("m-1", dirtyMbps: 50) };
        var ids = new List<string>();
        try
        {
            foreach (var vm in vms)
            {
                ids.Add((await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2", Policy: "long-limit"))).MigrationId);
            }

            Assert.NotEqual(SchedulerShards.OfMigration(ids[0]), SchedulerShards.OfMigration(ids[1]));
            var queued = await fixture.Client.GetMigrationAsync(ids[2]);
            Assert.Equal(MigrationPhase.Queued, queued.Phase);
            Assert.Equal("destination host limit: 'm-2' has 2 of 2 incoming migrations in flight (MaxInboundPerHost)", queued.QueuedReason);
            Assert.Equal(3, (await fixture.Client.ListMigrationsAsync(includeEnded: false)).Count(m => ids.Contains(m.MigrationId)));
        }
        finally
        {
            foreach (var id in Enumerable.Reverse(ids))
            {
                await fixture.Client.CancelMigrationAsync(id, "test over");
            }

            foreach (var id in ids)
            {
                await WaitUntilAsync(id, s => s.IsEnded);
            }
        }
    }

    [Fact]
    public async Task A_migration_queued_behind_its_source_hosts_limit_names_that_limit_and_cannot_be_forced()
    {
        // The source host allows 2 outgoing migrations (MigrationAdmissionOptions' default): the third waits.
        var vms = new[] { await fixture.CreateVmAsync("m-1", dirtyMbps: 50), await fixture.CreateVmAsync("m-1", dirtyMbps: 50), await fixture.CreateVmAsync("m-1", dirtyMbps: 50) };
        var ids = new List<string>();
        try
        {
            foreach (var (vm, to) in vms.Zip(new[] { "m-2", "m-3", "m-2" }))
            {
                ids.Add((await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, to, Policy: "long-limit"))).MigrationId);
            }

            var queued = await fixture.Client.GetMigrationAsync(ids[2]);
            Assert.Equal(MigrationPhase.Queued, queued.Phase);
            Assert.Equal("source host limit: 'm-1' has 2 of 2 outgoing migrations in flight (MaxOutboundPerHost)", queued.QueuedReason);
            Assert.Contains(await fixture.Client.ListMigrationsAsync(includeEnded: false), m => m.MigrationId == ids[2] && m.QueuedReason == queued.QueuedReason);
            foreach (var admitted in ids.Take(2))
            {
                Assert.Null((await fixture.Client.GetMigrationAsync(admitted)).QueuedReason);
            }

            var ex = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.ForceCompleteMigrationAsync(ids[2], "test"));
            Assert.Equal(OmigErrorCode.Conflict, ex.Code);
            Assert.Contains("queued", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            // Leave the hosts free for the collection's other tests: the queued one first (it would be admitted next).
            foreach (var id in Enumerable.Reverse(ids))
            {
                await fixture.Client.CancelMigrationAsync(id, "test over");
            }

            foreach (var id in ids)
            {
                await WaitUntilAsync(id, s => s.IsEnded);
            }
        }
    }

    private async Task<MigrationStatus> WaitUntilAsync(string id, Func<MigrationStatus, bool> done)
    {
        MigrationStatus? last = null;
        try
        {
            return await Eventually.UntilAsync(async () => last = await fixture.Client.GetMigrationAsync(id), done, Limit,
                $"migration {id} reaches the awaited state");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"migration {id} is still {last?.Phase} after {Limit.TotalSeconds} s", ex);
        }
    }
}
