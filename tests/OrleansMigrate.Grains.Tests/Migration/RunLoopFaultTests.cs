using System.Diagnostics.Metrics;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Migration;

[Collection(MigrationCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class RunLoopFaultTests(MigrationClusterFixture fixture) : IDisposable
{
    /// <summary>Far inside the one-minute reminder that used to be the only thing to re-drive a failed loop.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    public void Dispose() => fixture.Faults.Clear();

    [Fact]
    public async Task A_state_write_failing_inside_the_loops_error_handling_is_counted_and_the_loop_re_driven_at_once()
    {
        var vm = await fixture.CreateVmAsync("m-1");
        long faults = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == MigrationTelemetry.MeterName && instrument.Name == MigrationTelemetry.LoopFaultsName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref faults, value));
        listener.Start();

        // Prepare fails for good on the first drive (three tries) and its move to RollingBack cannot be stored: the
        // exception leaves the loop from its own error handling. The second drive fails prepare again and rolls back.
        fixture.Faults.FailNext(FaultSteps.MigrationPrepare, times: 6);
        fixture.Faults.FailNext(FaultSteps.MigrationSavePhase, times: 1);
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2"));

        using var cts = new CancellationTokenSource(Limit);
        MigrationStatus? last = null;
        try
        {
            await foreach (var status in fixture.Client.WatchMigrationAsync(started.MigrationId, cts.Token))
            {
                last = status;
            }
        }
        catch (OperationCanceledException)
        {
        }

        last = await fixture.Client.GetMigrationAsync(started.MigrationId);
        Assert.True(last.IsEnded, $"still {last.Phase} after {Limit.TotalSeconds} s");
        Assert.Equal(MigrationPhase.RolledBack, last.Phase);
        Assert.Contains("injected fault", last.Failure);
        Assert.True(Interlocked.Read(ref faults) >= 1, "the loop's fault was not counted");
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-1", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task A_rollback_that_could_not_be_stored_did_not_happen_and_leaves_no_failure_behind_when_the_re_drive_completes()
    {
        var vm = await fixture.CreateVmAsync("m-1");

        // Prepare fails its three tries on the first drive only and the move to RollingBack cannot be stored: the
        // re-drive starts from Prepare again, succeeds, and the migration completes without the first drive's reason.
        fixture.Faults.FailNext(FaultSteps.MigrationPrepare, times: 3);
        fixture.Faults.FailNext(FaultSteps.MigrationSavePhase, times: 1);
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2"));

        var last = await WaitEndAsync(started.MigrationId);
        Assert.Equal(MigrationPhase.Completed, last.Phase);
        Assert.Null(last.Failure);
        Assert.DoesNotContain(last.Timeline, p => p.Phase == MigrationPhase.RollingBack);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task A_start_whose_first_write_failed_is_not_taken_for_a_running_migration_and_the_scheduler_starts_it_again()
    {
        var vm = await fixture.CreateVmAsync("m-1");

        // The scheduler's start of the migration fails at its first state write. The activation must not keep the unsaved
        // request (it answered "Prepare" with no loop behind it, and the scheduler's sweep took that for a running migration).
        fixture.Faults.FailNext(FaultSteps.MigrationSaveStart, times: 1);
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2"));

        var last = await WaitEndAsync(started.MigrationId);
        Assert.Equal(MigrationPhase.Completed, last.Phase);
        Assert.Contains(FaultSteps.MigrationSaveStart, fixture.Faults.Seen);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task A_start_that_failed_on_the_database_is_retried_not_forgotten_as_if_its_vm_were_gone()
    {
        var vm = await fixture.CreateVmAsync("m-1");

        // The first write of the migration's state fails the way a restarting PostgreSQL fails it: a driver exception,
        // which the grain-call boundary turns into OmigException Unavailable. The scheduler once took every OmigException
        // from a start for "the VM vanished" and forgot the migration: its id then answered "does not exist" for good and
        // nothing ran (the chaos test's migrations submitted just after the PostgreSQL restart).
        fixture.Faults.FailNext(FaultSteps.MigrationSaveStart, times: 2, exception: (step, subject) => new FakeDatabaseException($"connection reset at {step} ({subject})"));
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2"));

        var last = await WaitEndAsync(started.MigrationId);
        Assert.Equal(MigrationPhase.Completed, last.Phase);
        Assert.Contains(FaultSteps.MigrationSaveStart, fixture.Faults.Seen);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
    }

    [Fact]
    public async Task A_submit_whose_scheduler_write_failed_is_forgotten_so_nothing_runs_behind_the_callers_back()
    {
        var vm = await fixture.CreateVmAsync("m-1");

        // The caller hears the failure: the migration must not run later anyway (the admission timer once admitted and
        // started the unsaved entry), and the VM must be free to be submitted again at once. Armed only once no earlier
        // test's migration is open, so the failing write is this submit's, not an end notification's pass.
        await Eventually.TrueAsync(async () => (await fixture.Client.ListMigrationsAsync(includeEnded: false)).IsEmpty, TimeSpan.FromSeconds(10),
            "no earlier test's migration is open", TimeSpan.FromMilliseconds(100));

        // A fixed delay: the scheduler's pass for the last end notification may still be writing after the list shows
        // nothing open, and nothing a test can read says when it is done.
        await Task.Delay(200);
        fixture.Faults.FailNext(FaultSteps.SchedulerSave, times: 1);
        await Assert.ThrowsAsync<InjectedFaultException>(() => fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2")));

        // Two admission sweeps (every 2 s) later, nothing of it is open and the VM has not moved: a fixed delay on
        // purpose, time must pass with nothing happening.
        await Task.Delay(TimeSpan.FromSeconds(4.5));
        Assert.DoesNotContain(await fixture.Client.ListMigrationsAsync(includeEnded: true), m => m.Request.VmId == vm.VmId);
        Assert.Equal("m-1", (await fixture.Client.GetVmAsync(vm.VmId)).HostId);

        var again = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "m-2"));
        Assert.Equal(MigrationPhase.Completed, (await WaitEndAsync(again.MigrationId)).Phase);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "m-2", MigrationClusterFixture.HostIds);
    }

    /// <summary>A database driver's failure as the PostgreSQL provider throws it (a <see cref="System.Data.Common.DbException"/>).</summary>
    private sealed class FakeDatabaseException(string message) : System.Data.Common.DbException(message);

    private async Task<MigrationStatus> WaitEndAsync(string migrationId)
    {
        using var cts = new CancellationTokenSource(Limit);
        try
        {
            await foreach (var _ in fixture.Client.WatchMigrationAsync(migrationId, cts.Token))
            {
            }
        }
        catch (OperationCanceledException)
        {
        }

        var last = await fixture.Client.GetMigrationAsync(migrationId);
        Assert.True(last.IsEnded, $"still {last.Phase} after {Limit.TotalSeconds} s");
        return last;
    }
}
