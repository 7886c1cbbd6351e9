using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Migration;

[Collection(MigrationCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Slow)]
public sealed class MigrationTests(MigrationClusterFixture fixture) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    public void Dispose() => fixture.Faults.Clear();

    [Fact]
    public async Task A_parallel_migration_moves_the_VM_with_disks_and_flows_and_every_invariant_holds_throughout()
    {
        var vm = await fixture.CreateVmAsync("m-1");
        var violations = new List<string>();
        using var stop = new CancellationTokenSource();
        var checker = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                violations.AddRange(await Invariants.CheckAsync(fixture.Client, fixture.Runtime, vm, MigrationClusterFixture.HostIds));
                await Task.Delay(5); // paces the checker: it samples the invariants all through the migration
            }
        });

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-2"));
        stop.Cancel();
        await checker;

        Assert.Equal(MigrationPhase.Completed, status.Phase);
        Assert.Empty(violations);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
        foreach (var d in vm.Disks)
        {
            Assert.Equal(2, (await fixture.Client.GetDiskAsync(d.DiskId))!.FencingGeneration);
        }

        Assert.Equal(
            [MigrationPhase.Prepare, MigrationPhase.PreCopy, MigrationPhase.Switchover, MigrationPhase.PostMigration, MigrationPhase.Completed],
            status.Timeline.Select(t => t.Phase).Where(p => p != MigrationPhase.PreLastCopy).ToArray());
        Assert.NotNull(status.Downtime);
        Assert.Contains(status.Downtime.Steps.Keys, k => k.StartsWith("disk ", StringComparison.Ordinal));
        Assert.Contains(status.Downtime.Steps.Keys, k => k.StartsWith("relay ", StringComparison.Ordinal));
        Assert.True(status.Downtime.DowntimeMs > 0);

        // Every step on one clock, from the source's pause: the destination took the disks and relays itself and
        // resumed after the last of them and after its own side received the final copy; the resume is the downtime's end.
        var timeline = status.Downtime.Timeline;
        Assert.Equal(("STOP", 0.0), (timeline[0].Step, timeline[0].StartMs));
        var resumed = Assert.Single(timeline, t => t.Step == "RESUME");
        Assert.Equal("m-2", resumed.Host);
        Assert.True(Math.Abs(resumed.StartMs - status.Downtime.DowntimeMs) < 0.01, $"RESUME at {resumed.StartMs} ms, downtime {status.Downtime.DowntimeMs} ms");
        var conditions = timeline.Where(t => t.Step.StartsWith("disk ", StringComparison.Ordinal) || t.Step.StartsWith("relay ", StringComparison.Ordinal)
            || t.Step == "final copy received").ToList();
        Assert.Equal(vm.Disks.Length + vm.Nics.Length + 1, conditions.Count);
        var resumeSent = Assert.Single(timeline, t => t.Step == "resume sent");
        Assert.All(conditions, c => Assert.True(c.Host == "m-2" && c.StartMs >= 0 && c.EndMs <= resumeSent.StartMs, $"{c} is not before the resume ({resumeSent})"));
        Assert.All(vm.Disks, d => Assert.Contains(timeline, t => t.Step == $"disk {d.DiskId} take-over"));
        Assert.Equal(timeline.OrderBy(t => t.StartMs).ToList(), timeline);
        Assert.Equal(2 + vm.Disks.Length + vm.Nics.Length, status.Downtime.CriticalPathCalls);

        // The verdict was read from the destination guest's memory, not inferred from "nothing failed".
        Assert.NotNull(status.GuestCheck);
        Assert.True(status.GuestCheck.Verdict == GuestCheckVerdict.Consistent, status.GuestCheck.Detail);
    }

    [Fact]
    public async Task A_serial_migration_completes_with_disk_reopen_and_flow_install_inside_the_downtime()
    {
        var vm = await fixture.CreateVmAsync("m-2");

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-3", Mode: OrchestrationMode.Serial));

        Assert.True(status.Phase == MigrationPhase.Completed, status.Failure);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-3", MigrationClusterFixture.HostIds);
        Assert.Contains(status.Downtime!.Steps.Keys, k => k.StartsWith("flow ", StringComparison.Ordinal));
        Assert.DoesNotContain(status.Downtime.Steps.Keys, k => k.StartsWith("relay ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(OrchestrationMode.Parallel)]
    [InlineData(OrchestrationMode.NoSessionCopy)]
    public async Task A_migration_in_a_mode_with_the_relay_stages_one_for_the_NIC(OrchestrationMode mode)
    {
        var vm = await fixture.CreateVmAsync("m-1");

        var (status, relays) = await RunWatchingRelaysAsync(new MigrationRequest(vm.VmId, "m-2", Mode: mode), vm);

        Assert.True(status.Phase == MigrationPhase.Completed, status.Failure);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
        Assert.Contains(relays, r => r.Ip == vm.Nics[0].Ip && r.FromHost == "m-1" && r.ToHost == "m-2" && r.OwnerId == status.MigrationId);
        Assert.Contains(status.Downtime!.Steps.Keys, k => k.StartsWith("relay ", StringComparison.Ordinal));
        Assert.Equal(2 + vm.Disks.Length + vm.Nics.Length, status.Downtime.CriticalPathCalls);
    }

    [Fact]
    public async Task A_no_relay_migration_completes_like_a_parallel_one_without_ever_staging_a_relay()
    {
        var vm = await fixture.CreateVmAsync("m-1");

        var (status, relays) = await RunWatchingRelaysAsync(new MigrationRequest(vm.VmId, "m-2", Mode: OrchestrationMode.NoRelay), vm);

        Assert.True(status.Phase == MigrationPhase.Completed, status.Failure);
        Assert.Equal(OrchestrationMode.NoRelay, status.Request.Mode);

        // The flows were still re-pointed (roll-forward), and the disks handed over as in parallel mode.
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
        Assert.All(vm.Nics, n => Assert.DoesNotContain(relays, r => r.Ip == n.Ip));
        Assert.Contains(status.Downtime!.Steps.Keys, k => k.StartsWith("disk ", StringComparison.Ordinal));
        Assert.DoesNotContain(status.Downtime.Steps.Keys, k => k.StartsWith("relay ", StringComparison.Ordinal));
        Assert.DoesNotContain(status.Downtime.Timeline, t => t.Step.StartsWith("relay ", StringComparison.Ordinal));
        Assert.Equal(2 + vm.Disks.Length, status.Downtime.CriticalPathCalls);
    }

    [Fact]
    public async Task A_no_relay_migration_that_fails_in_the_switchover_rolls_back_whole_on_the_source()
    {
        // The rollback disables and removes the migration's relays; with none staged both are no-ops, not failures.
        var vm = await fixture.CreateVmAsync("m-1");
        fixture.Faults.FailNext(FaultSteps.MigrationSwitchover);

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-2", Mode: OrchestrationMode.NoRelay));

        Assert.Equal(MigrationPhase.RolledBack, status.Phase);
        Assert.Contains("injected fault", status.Failure);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-1", MigrationClusterFixture.HostIds);
    }

    public static TheoryData<string> StepsBeforeCommit =>
    [
        FaultSteps.MigrationPrepare,
        FaultSteps.AgentPrepareIncoming,
        FaultSteps.DiskOpenReadOnly,
        FaultSteps.VpcStageRelay,
        FaultSteps.MigrationPreCopy,
        FaultSteps.AgentStartOutgoing,
        FaultSteps.MigrationSwitchover,
        FaultSteps.AgentFinalCopy,
        FaultSteps.DiskPromote,
        FaultSteps.VpcEnableRelay,
        FaultSteps.AgentResume,
    ];

    [Fact]
    public async Task With_a_fencing_store_the_switchover_takes_each_disk_in_one_step_and_without_fencing_it_pauses_the_source_first()
    {
        // Fencing (the default): the destination's take-over blocks the source's I/O itself, so no pause is asked for;
        // a pause that would fail is never reached and the migration completes.
        var vm = await fixture.CreateVmAsync("m-1");
        fixture.Faults.FailNext(FaultSteps.DiskPause, times: 10);
        var fenced = await RunAsync(new MigrationRequest(vm.VmId, "m-2"));
        fixture.Faults.FailNext(FaultSteps.DiskPause, times: 0);
        Assert.True(fenced.Phase == MigrationPhase.Completed, fenced.Failure);
        Assert.All(vm.Disks, d => Assert.Contains(fenced.Downtime!.Timeline, t => t.Step == $"disk {d.DiskId} take-over"));

        // A store that does not fence: the source is paused first (the same failing pause now rolls the migration back).
        fixture.CloudOptions.DiskFencing = false;
        try
        {
            var other = await fixture.CreateVmAsync("m-1");
            fixture.Faults.FailNext(FaultSteps.DiskPause, times: 10);
            var refused = await RunAsync(new MigrationRequest(other.VmId, "m-2"));
            fixture.Faults.FailNext(FaultSteps.DiskPause, times: 0);
            Assert.Equal(MigrationPhase.RolledBack, refused.Phase);
            Assert.Contains("injected fault", refused.Failure);
            await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, other, "m-1", MigrationClusterFixture.HostIds);

            var twoStep = await RunAsync(new MigrationRequest(other.VmId, "m-2"));
            Assert.True(twoStep.Phase == MigrationPhase.Completed, twoStep.Failure);
            await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, other, "m-2", MigrationClusterFixture.HostIds);
        }
        finally
        {
            fixture.CloudOptions.DiskFencing = true;
        }
    }

    [Theory]
    [MemberData(nameof(StepsBeforeCommit))]
    public async Task A_failure_at_any_step_before_the_commit_point_rolls_back_with_the_VM_whole_on_the_source(string step)
    {
        var vm = await fixture.CreateVmAsync("m-1");
        // Steps before the pause are tried three times (a transient failure does not roll back): fail them for good.
        fixture.Faults.FailNext(step, times: 10);

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-2"));

        Assert.Equal(MigrationPhase.RolledBack, status.Phase);
        Assert.Contains("injected fault", status.Failure);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-1", MigrationClusterFixture.HostIds);
    }

    public static TheoryData<string> StepsBeforeThePause =>
    [
        FaultSteps.MigrationPrepare,
        FaultSteps.AgentPrepareIncoming,
        FaultSteps.DiskOpenReadOnly,
        FaultSteps.VpcStageRelay,
        FaultSteps.MigrationPreCopy,
        FaultSteps.AgentStartOutgoing,
    ];

    [Theory]
    [MemberData(nameof(StepsBeforeThePause))]
    public async Task A_transient_failure_before_the_pause_is_tried_again_and_the_migration_completes(string step)
    {
        var vm = await fixture.CreateVmAsync("m-1");
        fixture.Faults.FailNext(step, times: 2);

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-2"));

        Assert.Equal(MigrationPhase.Completed, status.Phase);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
    }

    [Theory]
    [InlineData(FaultSteps.VpcRepointFlow)]
    [InlineData(FaultSteps.DiskClose)]
    [InlineData(FaultSteps.ServicesNotify)]
    public async Task A_failure_after_the_commit_point_is_retried_and_the_migration_rolls_forward(string step)
    {
        var vm = await fixture.CreateVmAsync("m-1");
        fixture.Faults.FailNext(step, times: 2);

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-3"));

        Assert.Equal(MigrationPhase.Completed, status.Phase);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-3", MigrationClusterFixture.HostIds);
    }

    [Theory]
    [InlineData(FaultSteps.MigrationPrepare, MigrationPhase.Prepare)]
    [InlineData(FaultSteps.MigrationPreCopy, MigrationPhase.PreCopy)]
    [InlineData(FaultSteps.MigrationSwitchover, MigrationPhase.Switchover)]
    public async Task Cancel_in_each_phase_before_the_commit_point_rolls_back(string holdAt, MigrationPhase phase)
    {
        var vm = await fixture.CreateVmAsync("m-3");
        fixture.Faults.Delay(holdAt, TimeSpan.FromMilliseconds(800));
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-1"));

        await WaitForPhaseAsync(started.MigrationId, phase);
        await fixture.Client.CancelMigrationAsync(started.MigrationId, "test cancel");
        var status = await WaitEndedAsync(started.MigrationId);

        Assert.Equal(MigrationPhase.RolledBack, status.Phase);
        Assert.Contains("test cancel", status.Failure ?? "cancelled: test cancel");
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-3", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task A_migration_cancelled_while_queued_is_stored_as_rolled_back_with_the_reason_and_still_answers()
    {
        // Two migrations out of m-2 hold its outbound slots (admission: 2 per host) while prepare is delayed; the third queues.
        var vms = new[] { await fixture.CreateVmAsync("m-2"), await fixture.CreateVmAsync("m-2"), await fixture.CreateVmAsync("m-2") };
        fixture.Faults.Delay(FaultSteps.MigrationPrepare, TimeSpan.FromSeconds(3));
        var running = new[] { await fixture.Client.MigrateAsync(new MigrationRequest(vms[0].VmId, "m-1")), await fixture.Client.MigrateAsync(new MigrationRequest(vms[1].VmId, "m-3")) };
        var queued = await fixture.Client.MigrateAsync(new MigrationRequest(vms[2].VmId, "m-1"));
        Assert.Equal(MigrationPhase.Queued, queued.Phase);

        var cancelled = await fixture.Client.CancelMigrationAsync(queued.MigrationId, "operator changed plans");

        Assert.Equal(MigrationPhase.RolledBack, cancelled.Phase);
        Assert.Equal("cancelled before it started: operator changed plans", cancelled.Failure);
        var read = await fixture.Client.GetMigrationAsync(queued.MigrationId);
        Assert.Equal(MigrationPhase.RolledBack, read.Phase);
        Assert.Equal(cancelled.Failure, read.Failure);
        Assert.Contains(await fixture.Client.ListMigrationsAsync(includeEnded: true), m => m.MigrationId == queued.MigrationId && m.Phase == MigrationPhase.RolledBack);
        Assert.DoesNotContain(await fixture.Client.ListMigrationsAsync(includeEnded: false), m => m.MigrationId == queued.MigrationId);
        fixture.Faults.Clear();
        foreach (var m in running)
        {
            Assert.Equal(MigrationPhase.Completed, (await WaitEndedAsync(m.MigrationId)).Phase);
        }

        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vms[2], "m-2", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task A_stalled_migration_escalates_its_downtime_target_step_by_step_and_completes()
    {
        var vm = await fixture.CreateVmAsync("m-1", dirtyMbps: 60);

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-2", Policy: "stall-escalate"));

        Assert.True(status.Phase == MigrationPhase.Completed, status.Failure);
        Assert.True(status.Progress.DowntimeTargetMs > 0.2, $"target stayed at {status.Progress.DowntimeTargetMs} ms");
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task A_stalled_migration_under_an_abort_policy_rolls_back_saying_so()
    {
        var vm = await fixture.CreateVmAsync("m-2", dirtyMbps: 60);

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-3", Policy: "stall-abort"));

        Assert.Equal(MigrationPhase.RolledBack, status.Phase);
        Assert.Contains("stalled", status.Failure);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task An_unknown_policy_is_refused_naming_the_field()
    {
        var vm = await fixture.CreateVmAsync("m-3");

        var ex = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, Policy: "gold")));

        Assert.Equal("policy", ex.Field);
    }

    [Fact]
    public async Task A_second_migrate_request_for_a_VM_in_flight_is_refused()
    {
        var vm = await fixture.CreateVmAsync("m-2");
        fixture.Faults.Delay(FaultSteps.MigrationPrepare, TimeSpan.FromMilliseconds(500));
        var first = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-1"));

        var ex = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-3")));

        Assert.Equal(OmigErrorCode.Conflict, ex.Code);
        Assert.Contains(first.MigrationId, ex.Message);
        Assert.Equal(MigrationPhase.Completed, (await WaitEndedAsync(first.MigrationId)).Phase);
    }

    [Fact]
    public async Task A_named_destination_refuses_a_VM_at_submit_once_the_migrations_headed_there_hold_its_room()
    {
        // Room for two of these VMs (2 cores each). Prepare is held, so neither of the first two has started when the
        // third asks: the host's ledger holds their reservations from the submit on (the scheduler keeps no shadow of
        // them), so the third is refused at once rather than accepted and rolled back later.
        var tiny = TestFleet.Unique("tiny");
        await fixture.Client.AddHostAsync(TestFleet.Host(tiny, cores: 4, memoryMiB: 65536));
        var vms = new[] { await fixture.CreateVmAsync("m-1"), await fixture.CreateVmAsync("m-2"), await fixture.CreateVmAsync("m-3") };
        fixture.Faults.Delay(FaultSteps.MigrationPrepare, TimeSpan.FromMilliseconds(500));

        var first = await fixture.Client.MigrateAsync(new MigrationRequest(vms[0].VmId, tiny));
        var second = await fixture.Client.MigrateAsync(new MigrationRequest(vms[1].VmId, tiny));
        var ex = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.MigrateAsync(new MigrationRequest(vms[2].VmId, tiny)));

        Assert.Equal("to", ex.Field);
        Assert.Contains("cores free", ex.Message);
        Assert.Equal(MigrationPhase.Completed, (await WaitEndedAsync(first.MigrationId)).Phase);
        Assert.Equal(MigrationPhase.Completed, (await WaitEndedAsync(second.MigrationId)).Phase);
        Assert.Equal(tiny, (await fixture.Client.GetVmAsync(vms[1].VmId)).HostId);
        Assert.Equal("m-3", (await fixture.Client.GetVmAsync(vms[2].VmId)).HostId);
    }

    [Fact]
    public async Task A_VM_cannot_be_deleted_while_it_is_being_migrated()
    {
        var vm = await fixture.CreateVmAsync("m-3");
        fixture.Faults.Delay(FaultSteps.MigrationPrepare, TimeSpan.FromMilliseconds(500));
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-1"));

        var ex = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.DeleteVmAsync(vm.VmId));

        Assert.Equal(OmigErrorCode.Conflict, ex.Code);
        Assert.Equal(MigrationPhase.Completed, (await WaitEndedAsync(started.MigrationId)).Phase);
        await fixture.Client.DeleteVmAsync(vm.VmId);
    }

    [Fact]
    public async Task A_VM_with_pass_through_devices_is_refused_live_migration_with_the_reason()
    {
        var id = TestFleet.Unique("pt");
        var spec = TestFleet.Vm(id) with { PassthroughDevices = [new PassthroughDevice("0000:3b:00.0", "gpu")] };
        await fixture.Client.CreateVmAsync(spec, "m-1");

        var ex = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.MigrateAsync(new MigrationRequest(id)));

        Assert.Equal(OmigErrorCode.Incompatible, ex.Code);
        Assert.Contains("pass-through", ex.Message);
    }

    [Fact]
    public async Task Without_a_destination_placement_picks_a_compatible_host()
    {
        var vm = await fixture.CreateVmAsync("m-3");

        var status = await RunAsync(new MigrationRequest(vm.VmId));

        Assert.Equal(MigrationPhase.Completed, status.Phase);
        Assert.NotEqual("m-3", status.DestinationHost);
        Assert.Contains(status.DestinationHost, MigrationClusterFixture.HostIds);
    }

    /// <summary>Runs a migration while reading its VM's flow tables every few ms; returns every relay seen for the VM's
    /// addresses. Pre-copy is held back 300 ms after prepare, so a relay staged at prepare is up long enough to be seen.</summary>
    private async Task<(MigrationStatus Status, List<RelayRoute> Relays)> RunWatchingRelaysAsync(MigrationRequest request, VmSpec vm)
    {
        fixture.Faults.Delay(FaultSteps.MigrationPreCopy, TimeSpan.FromMilliseconds(300));
        var seen = new List<RelayRoute>();
        using var stop = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var n in vm.Nics)
                {
                    var table = await fixture.Cluster.Client.GetGrain<IVpcFlowTableGrain>(n.VpcId).GetAsync();
                    seen.AddRange(table.Relays.Where(r => r.Ip == n.Ip));
                }

                await Task.Delay(5); // paces the reads: they sample the table all through the migration
            }
        });

        var status = await RunAsync(request);
        stop.Cancel();
        await watcher;
        return (status, seen);
    }

    private async Task<MigrationStatus> RunAsync(MigrationRequest request)
    {
        var started = await fixture.Client.MigrateAsync(request);
        return await WaitEndedAsync(started.MigrationId);
    }

    private async Task<MigrationStatus> WaitEndedAsync(string id)
    {
        using var cts = new CancellationTokenSource(Limit);
        MigrationStatus? last = null;
        await foreach (var status in fixture.Client.WatchMigrationAsync(id, cts.Token))
        {
            last = status;
        }

        return last ?? await fixture.Client.GetMigrationAsync(id);
    }

    private Task WaitForPhaseAsync(string id, MigrationPhase phase) =>
        Eventually.UntilAsync(() => fixture.Client.GetMigrationAsync(id), status => status.Phase == phase, Limit,
            $"migration {id} reaches {phase}", TimeSpan.FromMilliseconds(10));
}
