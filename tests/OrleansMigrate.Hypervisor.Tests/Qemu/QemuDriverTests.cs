using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class QemuDriverTests(QemuEnvironment env) : IDisposable
{
    public void Dispose() => env.EndTest();

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Live_migration_keeps_the_guest_consistent_and_it_keeps_advancing_on_the_destination()
    {
        await using var source = new QemuHypervisorDriver("src", env.Options());
        await using var destination = new QemuHypervisorDriver("dst", env.Options());
        await source.CreateVmAsync(env.Spec("vm-mig"));
        await source.StartVmAsync("vm-mig");
        var before = await QemuTestGuest.WaitForPassesAsync(source, "vm-mig", 1);

        var report = await LiveMigration.RunAsync(source, destination, "vm-mig",
            new MigrationOptions { DowntimeTargetMs = 50, LinkBandwidthBytesPerSecond = 1_000_000_000 },
            new IncomingMigrationOptions { VerifyConsistency = true }).WaitAsync(Bound);

        Assert.NotNull(report.Consistency);
        Assert.True(report.Consistency!.Consistent, report.Consistency.Summary);
        Assert.Equal(VmState.PostMigrate, (await source.GetVmAsync("vm-mig")).State);
        Assert.Equal(VmState.Running, (await destination.GetVmAsync("vm-mig")).State);

        // Consistent snapshots, the first at or past the migrated position (the destination resumed from the migrated
        // state), and the position growing (the guest advances on the destination).
        await QemuTestGuest.AssertAdvancesConsistentlyAsync(destination, "vm-mig", before.Position);
    }

    [Fact]
    public async Task With_cpu_sets_the_vcpu_threads_run_on_theirs_and_every_other_QEMU_thread_on_the_housekeeping_set()
    {
        var vcpus = $"{Environment.ProcessorCount - 1}";
        await using var driver = new QemuHypervisorDriver("pin-host", env.Options(o =>
        {
            o.EmulatorCpus = "0";
            o.VcpuCpus = vcpus;
        }));
        await driver.CreateVmAsync(env.Spec("vm-pin"));
        await driver.StartVmAsync("vm-pin");
        var pid = driver.ProcessId("vm-pin")!.Value;

        // QEMU names its vCPU threads "CPU n/TCG" or "CPU n/KVM"; read each thread's affinity back from the kernel.
        var threads = Directory.EnumerateDirectories($"/proc/{pid}/task")
            .Select(t => (Tid: int.Parse(Path.GetFileName(t)), Name: File.ReadAllText(Path.Combine(t, "comm")).Trim()))
            .ToList();
        var vcpuThreads = threads.Where(t => t.Name.StartsWith("CPU ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(vcpuThreads);
        Assert.All(vcpuThreads, t => Assert.Equal(vcpus, CpuSet.Of(t.Tid).ToString()));
        Assert.All(threads.Except(vcpuThreads), t => Assert.True(CpuSet.Of(t.Tid).ToString() == "0", $"thread {t.Name} runs on {CpuSet.Of(t.Tid)}"));
        await driver.DestroyVmAsync("vm-pin");
    }

    [Fact]
    public async Task A_new_driver_adopts_the_guests_its_predecessor_left_running_and_no_second_copy_boots()
    {
        var options = env.Options(o => o.StopGuestsOnShutdown = false);
        int pid;
        DirtyGuest.Header before;
        await using (var first = new QemuHypervisorDriver("adopt-host", options))
        {
            await first.CreateVmAsync(env.Spec("vm-adopt"));
            await first.StartVmAsync("vm-adopt");
            before = await QemuTestGuest.WaitForPassesAsync(first, "vm-adopt", 1);
            pid = first.ProcessId("vm-adopt")!.Value;
        }

        // The agent went away; the guest did not.
        Assert.True(Directory.Exists($"/proc/{pid}"), "the guest outlives its driver");
        await using var second = new QemuHypervisorDriver("adopt-host", env.Options());
        var adopted = Assert.Single(await second.ListVmsAsync());
        Assert.Equal(("vm-adopt", VmState.Running), (adopted.VmId, adopted.State));
        Assert.Equal(pid, second.ProcessId("vm-adopt"));
        Assert.Equal(64, adopted.Spec.MemoryMiB);
        var check = await second.CheckDirtyGuestAsync("vm-adopt");
        Assert.True(check!.Value.Report.Consistent, check.Value.Report.Summary);
        Assert.True(check.Value.Header.Position > before.Position, "the adopted guest kept running");

        // Another host's driver sharing the runtime directory adopts nothing of it.
        await using var other = new QemuHypervisorDriver("other-host", env.Options());
        Assert.Empty(await other.ListVmsAsync());

        await second.DestroyVmAsync("vm-adopt");
        await Eventually.TrueAsync(() => QemuTestGuest.ProcessGone(pid), TimeSpan.FromSeconds(30), "destroy stops the adopted QEMU", TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task A_guest_that_arrived_by_migration_is_adopted_by_the_destinations_next_driver()
    {
        await using var source = new QemuHypervisorDriver("arr-src", env.Options());
        await source.CreateVmAsync(env.Spec("vm-arrived"));
        await source.StartVmAsync("vm-arrived");
        await QemuTestGuest.WaitForPassesAsync(source, "vm-arrived", 1);
        int pid;
        await using (var destination = new QemuHypervisorDriver("arr-dst", env.Options(o => o.StopGuestsOnShutdown = false)))
        {
            await LiveMigration.RunAsync(source, destination, "vm-arrived",
                new MigrationOptions { DowntimeTargetMs = 50, LinkBandwidthBytesPerSecond = 1_000_000_000 }).WaitAsync(Bound);
            pid = destination.ProcessId("vm-arrived")!.Value;
        }

        await using var next = new QemuHypervisorDriver("arr-dst", env.Options());
        var adopted = Assert.Single(await next.ListVmsAsync());
        Assert.Equal(VmState.Running, adopted.State);
        Assert.Equal(pid, next.ProcessId("vm-arrived"));
        await next.DestroyVmAsync("vm-arrived");
    }
}
