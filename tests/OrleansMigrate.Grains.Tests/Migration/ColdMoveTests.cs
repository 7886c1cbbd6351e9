using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Agents;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Operations;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Migration;

/// <summary>Cold moves (<c>omig vm migrate --cold</c>) on the simulated driver: a VM that cannot move live is shut down,
/// its disks taken over at a new fencing generation, its flows re-pointed and it is started on the destination; a failure
/// before the destination runs it restarts it on the source with its disks handed back.</summary>
[Collection(MigrationCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class ColdMoveTests(MigrationClusterFixture fixture) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    public void Dispose() => fixture.Faults.Clear();

    [Fact]
    public async Task A_cold_move_of_a_passthrough_class_VM_hands_disks_and_flows_over_starts_it_on_the_destination_and_records_its_downtime()
    {
        var vm = await CreateAsync(instanceClass: "passthrough");
        var generations = await GenerationsAsync(vm);
        var violations = new List<string>();
        using var stop = new CancellationTokenSource();
        var checker = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                violations.AddRange(await SplitBrainAsync(vm));
                await Task.Delay(5);
            }
        });

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-2", Cold: true));
        stop.Cancel();
        await checker;

        Assert.True(status.Phase == MigrationPhase.Completed, $"{status.Phase}: {status.Failure}");
        Assert.Empty(violations);
        Assert.True(status.Request.Cold);
        Assert.Equal("passthrough", status.Request.Policy);
        Assert.Equal([MigrationPhase.Prepare, MigrationPhase.Switchover, MigrationPhase.PostMigration, MigrationPhase.Completed],
            status.Timeline.Select(t => t.Phase).ToArray());
        var cold = Assert.IsType<ColdMoveReport>(status.Cold);
        Assert.True(cold.WasRunning);
        Assert.True(cold.Graceful, "the simulated guest honours the power-down request");
        Assert.True(cold.OwnerNotified);
        Assert.NotNull(cold.DowntimeMs);
        Assert.True(cold.DowntimeMs > 0);
        Assert.Equal(cold.DowntimeMs!.Value, status.Downtime!.DowntimeMs, 3);
        Assert.True(cold.RunningAtUtc >= cold.StoppedAtUtc);
        Assert.Contains("disk take-over", status.Downtime.Steps.Keys);
        Assert.Contains("start", status.Downtime.Steps.Keys);

        // Everything on m-2 now: the hypervisor runs it there only, its record, disks (one generation up: the source's
        // handle fenced), flows and ledger say so; nothing is left on m-1.
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
        foreach (var d in vm.Disks)
        {
            Assert.Equal(generations[d.DiskId] + 1, (await fixture.Client.GetDiskAsync(d.DiskId))!.FencingGeneration);
        }

        var notices = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<OwnerNotifier>().Sent;
        Assert.Contains(notices, n => n.VmId == vm.VmId && n.Operation.Contains("cold move", StringComparison.Ordinal));
        Assert.True((await FleetAuditor.AuditAsync(fixture.Client)).Clean);

        // The history lists it like any other migration.
        var history = await fixture.Client.ListMigrationsAsync(includeEnded: true);
        Assert.Contains(history, m => m.MigrationId == status.MigrationId && m.Request.Cold && m.Cold is not null);
    }

    [Fact]
    public async Task A_guest_that_ignores_the_power_down_request_is_stopped_hard_after_the_policys_timeout()
    {
        var vm = await CreateAsync(policy: "cold-quick", labels: ImmutableDictionary<string, string>.Empty.Add("sim.acpi", "ignore"));

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-3", Cold: true));

        Assert.True(status.Phase == MigrationPhase.Completed, $"{status.Phase}: {status.Failure}");
        var cold = status.Cold!;
        Assert.False(cold.Graceful);
        Assert.Equal(300, cold.ShutdownTimeoutMs);
        Assert.True(cold.ShutdownMs >= 290, $"stopped hard after {cold.ShutdownMs} ms, the timeout is 300 ms");
        Assert.True(cold.DowntimeMs < cold.ShutdownMs + 10_000, $"downtime {cold.DowntimeMs} ms");
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-3", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task When_the_destination_fails_to_start_the_VM_the_cold_move_restarts_it_on_the_source_with_its_disks_handed_back()
    {
        var vm = await CreateAsync(instanceClass: "passthrough");
        var generations = await GenerationsAsync(vm);
        fixture.Faults.FailNext(FaultSteps.AgentColdStart);

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-2", Cold: true));

        Assert.Equal(MigrationPhase.RolledBack, status.Phase);
        Assert.Contains(FaultSteps.AgentColdStart, status.Failure);
        Assert.Contains(MigrationPhase.RollingBack, status.Timeline.Select(t => t.Phase));
        // The guest had stopped (the failure came after), so the rollback booted it again on m-1.
        Assert.NotNull(status.Cold!.StoppedAtUtc);
        Assert.Null(status.Cold.RunningAtUtc);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-1", MigrationClusterFixture.HostIds);
        foreach (var d in vm.Disks)
        {
            // Taken over by m-2, then taken back by m-1: each hand-over at a new generation, so m-2's handle is fenced.
            Assert.Equal(generations[d.DiskId] + 2, (await fixture.Client.GetDiskAsync(d.DiskId))!.FencingGeneration);
        }

        Assert.Equal(PowerState.Running, (await fixture.Client.GetVmAsync(vm.VmId)).Power);
        Assert.True((await FleetAuditor.AuditAsync(fixture.Client)).Clean);
    }

    [Fact]
    public async Task When_the_shutdown_fails_the_cold_move_rolls_back_and_the_VM_keeps_running_on_the_source()
    {
        var vm = await CreateAsync(instanceClass: "passthrough");
        fixture.Faults.FailNext(FaultSteps.AgentColdShutdown);

        var status = await RunAsync(new MigrationRequest(vm.VmId, "m-2", Cold: true));

        Assert.Equal(MigrationPhase.RolledBack, status.Phase);
        Assert.Null(status.Cold!.StoppedAtUtc);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-1", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task A_cold_move_is_refused_when_the_policy_never_moves_cold_or_the_VM_is_neither_running_nor_stopped_and_nothing_changes()
    {
        var never = await CreateAsync(policy: "no-cold");
        var lost = await CreateAsync(instanceClass: "passthrough");
        await fixture.Client.Grains.GetGrain<IVmGrain>(lost.VmId).SetPowerAsync(PowerState.Lost);

        var byPolicy = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.MigrateAsync(new MigrationRequest(never.VmId, "m-2", Cold: true)));
        var byPower = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.MigrateAsync(new MigrationRequest(lost.VmId, "m-2", Cold: true)));

        Assert.Equal(OmigErrorCode.Incompatible, byPolicy.Code);
        Assert.Equal("cold", byPolicy.Field);
        Assert.Contains("ColdMove=never", byPolicy.Message);
        Assert.Equal(OmigErrorCode.Conflict, byPower.Code);
        Assert.Equal("vm", byPower.Field);
        Assert.Contains("lost", byPower.Message);
        var open = await fixture.Client.ListMigrationsAsync(includeEnded: false);
        Assert.DoesNotContain(open, m => m.Request.VmId == never.VmId || m.Request.VmId == lost.VmId);
        Assert.Empty((await fixture.Client.GetHostAsync("m-2")).Reservations);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, never, "m-1", MigrationClusterFixture.HostIds);
        Assert.Equal("m-1", (await fixture.Client.GetVmAsync(lost.VmId)).HostId);
    }

    [Fact]
    public async Task A_VM_that_cannot_move_live_is_still_refused_a_live_migration_with_the_reason()
    {
        var vm = await CreateAsync(instanceClass: "passthrough");

        var refused = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2")));

        Assert.Equal(OmigErrorCode.Incompatible, refused.Code);
        Assert.Contains("never live-migrates", refused.Message);
    }

    private async Task<VmSpec> CreateAsync(string instanceClass = "standard", string? policy = null, ImmutableDictionary<string, string>? labels = null)
    {
        var id = TestFleet.Unique("cv");
        labels ??= ImmutableDictionary<string, string>.Empty;
        var spec = TestFleet.Vm(id, vcpus: 2, memoryMiB: 4096, ip: TestFleet.RandomIp()) with
        {
            InstanceClass = instanceClass,
            Disks = [new DiskSpec(id + "-a", 10), new DiskSpec(id + "-b", 20)],
            Labels = policy is null ? labels : labels.SetItem(MigrationPolicyOptions.PolicyLabel, policy),
        };
        await fixture.Client.CreateVmAsync(spec, "m-1");
        return spec;
    }

    private async Task<Dictionary<string, long>> GenerationsAsync(VmSpec vm)
    {
        var generations = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var d in vm.Disks)
        {
            generations[d.DiskId] = (await fixture.Client.GetDiskAsync(d.DiskId))!.FencingGeneration;
        }

        return generations;
    }

    /// <summary>What must hold all through a cold move (the VM runs nowhere inside its downtime, by design): never on two
    /// hosts at once, never two writers of a disk.</summary>
    private async Task<List<string>> SplitBrainAsync(VmSpec vm)
    {
        var problems = new List<string>();
        var running = new List<string>();
        foreach (var host in MigrationClusterFixture.HostIds)
        {
            if (await fixture.Runtime.VmStateAsync(host, vm.VmId) == HypervisorVmState.Running)
            {
                running.Add(host);
            }
        }

        if (running.Count > 1)
        {
            problems.Add($"VM runs on [{string.Join(",", running)}]");
        }

        foreach (var d in vm.Disks)
        {
            var writers = (await fixture.Client.GetDiskAsync(d.DiskId))?.Attachments.Count(a => a.Value.Mode == DiskAttachmentMode.ReadWrite) ?? 0;
            if (writers > 1)
            {
                problems.Add($"disk {d.DiskId} has {writers} writers");
            }
        }

        return problems;
    }

    private async Task<MigrationStatus> RunAsync(MigrationRequest request)
    {
        var started = await fixture.Client.MigrateAsync(request);
        using var cts = new CancellationTokenSource(Limit);
        MigrationStatus? last = null;
        await foreach (var status in fixture.Client.WatchMigrationAsync(started.MigrationId, cts.Token))
        {
            last = status;
        }

        return last ?? await fixture.Client.GetMigrationAsync(started.MigrationId);
    }
}
