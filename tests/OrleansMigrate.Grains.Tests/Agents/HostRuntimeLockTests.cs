using System.Collections.Immutable;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OrleansMigrate.Agents;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Tests.Agents;

/// <summary>
/// The host runtime's lifecycle lock is per VM: one VM's operation stalled on a host never holds up another VM's
/// resume on that host, while one VM's operations still queue behind each other.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class HostRuntimeLockTests
{
    // Only a guard against a hang when the lock is shared: the assertions are on which task finishes first.
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_resume_is_not_blocked_by_another_vms_prepare_stalled_on_the_same_host()
    {
        var faults = new StallingFaults(FaultSteps.AgentPrepareIncoming, "vm-b");
        await using var runtime = Runtime(faults);
        await runtime.StartVmAsync("h1", Vm("vm-a"));
        await MigrateToFinalCopyAsync(runtime, "m-a", "vm-a");

        var prepareB = runtime.PrepareIncomingAsync("h2", "m-b", Vm("vm-b"));
        await faults.Entered.WaitAsync(HangGuard);

        var resumeA = runtime.ResumeIncomingAsync("h2", "m-a");
        var first = await Task.WhenAny(resumeA, Task.Delay(HangGuard));
        var prepareBDoneFirst = prepareB.IsCompleted;
        faults.Release();
        await prepareB;

        Assert.Same(resumeA, first);
        Assert.False(prepareBDoneFirst);
        Assert.Equal(HypervisorVmState.Running, await runtime.VmStateAsync("h2", "vm-a"));
        Assert.Equal(0, runtime.LockedVms);
    }

    [Fact]
    public async Task One_vms_operations_still_queue_behind_each_other()
    {
        var faults = new StallingFaults(FaultSteps.AgentPrepareIncoming, "vm-a");
        await using var runtime = Runtime(faults);
        await runtime.StartVmAsync("h1", Vm("vm-a"));
        var prepare = runtime.PrepareIncomingAsync("h2", "m-a", Vm("vm-a"));
        await faults.Entered.WaitAsync(HangGuard);

        // Aborting the migration being prepared waits for the prepare: it then finds and removes the incoming side.
        var abort = runtime.AbortIncomingAsync("h2", "m-a", "vm-a", "test");
        await Task.Yield();
        var abortDoneFirst = abort.IsCompleted;
        faults.Release();
        await prepare;
        await abort;

        Assert.False(abortDoneFirst);
        Assert.Null(await runtime.VmStateAsync("h2", "vm-a"));
        await Assert.ThrowsAsync<OrleansMigrate.Errors.OmigException>(() => runtime.ResumeIncomingAsync("h2", "m-a"));
        Assert.Equal(0, runtime.LockedVms);
    }

    private static DriverHostRuntime Runtime(IFaultInjector faults) =>
        new(Options.Create(new HostRuntimeOptions { SimulatedGuestMiB = 8, VerifyConsistency = false }), faults, NullLogger<DriverHostRuntime>.Instance);

    private static VmSpec Vm(string id) => new(id, 1, 1024, [], "standard", ImmutableDictionary<string, string>.Empty, [], [], []);

    /// <summary>Prepares on h2, streams from h1 until the source pauses, and runs the final copy: the destination awaits its resume.</summary>
    private static async Task MigrateToFinalCopyAsync(DriverHostRuntime runtime, string migrationId, string vmId)
    {
        var endpoint = await runtime.PrepareIncomingAsync("h2", migrationId, Vm(vmId));
        await runtime.StartOutgoingAsync("h1", migrationId, vmId, endpoint, new MigrationTuning());
        for (var i = 0; !(await runtime.WaitOutgoingAsync("h1", migrationId, TimeSpan.FromSeconds(1))).Paused; i++)
        {
            Assert.True(i < 30, "the source never paused");
        }

        await runtime.FinalCopyAsync("h1", migrationId);
    }

    /// <summary>Holds <c>step</c> for one subject until released (a stalled hypervisor call, under that VM's lock).</summary>
    private sealed class StallingFaults(string step, string subject) : IFaultInjector
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => _entered.Task;

        public void Release() => _released.TrySetResult();

        public async ValueTask BeforeAsync(string s, string sub, CancellationToken cancellationToken = default)
        {
            if (s == step && sub == subject)
            {
                _entered.TrySetResult();
                await _released.Task.WaitAsync(cancellationToken);
            }
        }
    }
}
