using System.Diagnostics;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;
using Xunit.Abstractions;

namespace OrleansMigrate.Hypervisor.Tests.Simulated;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class AnalyticScaleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Twenty_thousand_16_GiB_VMs_on_a_thousand_hosts_cost_a_few_hundred_bytes_each()
    {
        const int hosts = 1000;
        const int vmsPerHost = 20;
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var drivers = new AnalyticHypervisorDriver[hosts];
        for (var h = 0; h < hosts; h++)
        {
            drivers[h] = new AnalyticHypervisorDriver($"scale-{h}");
            for (var v = 0; v < vmsPerHost; v++)
            {
                // A spec per VM, as the host runtime builds one from each registry record.
                var spec = AnalyticHosts.Spec($"scale-{h}-{v}", 16384, dirtyMBps: 50);
                await drivers[h].CreateVmAsync(spec);
                await drivers[h].StartVmAsync(spec.VmId);
            }
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        var perVm = (after - before) / (double)(hosts * vmsPerHost);
        output.WriteLine($"{hosts * vmsPerHost} VMs of 16 GiB on {hosts} analytic drivers: {(after - before) / 1e6:F1} MB managed heap, {perVm:F0} bytes per VM (spec included)");
        Assert.True(after - before < 200_000_000, $"{after - before} bytes for {hosts * vmsPerHost} VMs");
        Assert.Equal(VmState.Running, (await drivers[^1].GetVmAsync($"scale-{hosts - 1}-{vmsPerHost - 1}")).State);
        GC.KeepAlive(drivers);
        foreach (var driver in drivers)
            await driver.DisposeAsync();
    }

    [Fact]
    public async Task Two_thousand_migrations_at_concurrency_200_all_complete()
    {
        const int hostCount = 100;
        const int migrations = 2000;
        const int concurrency = 200;
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var drivers = Enumerable.Range(0, hostCount).Select(h => new AnalyticHypervisorDriver($"tp-{h}", timeAcceleration: 10_000)).ToArray();
        for (var v = 0; v < concurrency; v++)
        {
            var spec = AnalyticHosts.Spec($"tp-vm-{v}", 8192, dirtyMBps: 100);
            await drivers[v % hostCount].CreateVmAsync(spec);
            await drivers[v % hostCount].StartVmAsync(spec.VmId);
        }

        // One worker per VM (so a VM never moves twice at once), host to next host. One untimed move each warms the JIT.
        var completed = 0;
        var downtimes = new double[migrations];
        var location = Enumerable.Range(0, concurrency).Select(vm => vm % hostCount).ToArray();
        async Task Worker(int vm, int moves, bool timed)
        {
            for (var k = 0; k < moves; k++)
            {
                var from = location[vm];
                var to = (from + 1) % hostCount;
                var report = await LiveMigration.RunAsync(drivers[from], drivers[to], $"tp-vm-{vm}", new MigrationOptions());
                await drivers[from].DestroyVmAsync($"tp-vm-{vm}");
                location[vm] = to;
                if (timed)
                    downtimes[Interlocked.Increment(ref completed) - 1] = report.Downtime.TotalMs;
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(vm => Task.Run(() => Worker(vm, 1, timed: false)))).WaitAsync(TimeSpan.FromMinutes(5));
        await Task.Delay(500); // lets tiered compilation finish what the warm-up queued
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(vm => Task.Run(() => Worker(vm, migrations / concurrency, timed: true)))).WaitAsync(TimeSpan.FromMinutes(5));
        watch.Stop();

        output.WriteLine($"{completed} analytic migrations (8 GiB, 100 MB/s, 10 Gb/s, 10,000x) at concurrency {concurrency} in {watch.Elapsed.TotalSeconds:F2} s: {completed / watch.Elapsed.TotalSeconds:F0} migrations/s; modelled downtime median {downtimes.Order().ElementAt(migrations / 2):F2} ms");
        Assert.Equal(migrations, completed);
        var emptyDrivers = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(drivers);
        output.WriteLine($"after {migrations} migrations: {(emptyDrivers - heapBefore) / (double)concurrency:F0} bytes of managed heap per VM (spec and its last incoming side included)");
        foreach (var driver in drivers)
        {
            Assert.All(await driver.ListVmsAsync(), v => Assert.Equal(VmState.Running, v.State));
            await driver.DisposeAsync();
        }
    }
}
