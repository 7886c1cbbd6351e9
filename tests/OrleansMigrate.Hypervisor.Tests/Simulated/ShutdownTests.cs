using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Simulated;

/// <summary>A cold move's shutdown on the in-process drivers: a guest that honours the power-down stops at once, one that
/// ignores it is stopped hard after the timeout; either way it is gone from the host; only a running VM is shut down.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class ShutdownTests
{
    public static TheoryData<string> Drivers => new() { "simulated", "analytic" };

    private static IHypervisorDriver NewDriver(string kind) =>
        kind == "simulated" ? new SimulatedHypervisorDriver("h-shut") : new AnalyticHypervisorDriver("h-shut", 1);

    private static VmSpec Guest(string id, bool ignoresPowerDown) => new()
    {
        VmId = id,
        MemoryMiB = 8,
        Simulation = new SimulatedGuestOptions { IgnoresPowerDown = ignoresPowerDown },
    };

    [Theory]
    [MemberData(nameof(Drivers))]
    public async Task A_guest_that_honours_the_power_down_stops_at_once_and_leaves_the_host(string kind)
    {
        await using var driver = NewDriver(kind);
        await driver.CreateVmAsync(Guest("vm-acpi", ignoresPowerDown: false));
        await driver.StartVmAsync("vm-acpi");

        var result = await driver.ShutdownVmAsync("vm-acpi", TimeSpan.FromSeconds(30));

        Assert.True(result.Graceful);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(10), $"{result.Elapsed}");
        Assert.Empty(await driver.ListVmsAsync());
    }

    [Theory]
    [MemberData(nameof(Drivers))]
    public async Task A_guest_that_ignores_the_power_down_is_stopped_hard_after_the_timeout(string kind)
    {
        await using var driver = NewDriver(kind);
        await driver.CreateVmAsync(Guest("vm-noacpi", ignoresPowerDown: true));
        await driver.StartVmAsync("vm-noacpi");

        var result = await driver.ShutdownVmAsync("vm-noacpi", TimeSpan.FromMilliseconds(200));

        Assert.False(result.Graceful);
        Assert.True(result.Elapsed >= TimeSpan.FromMilliseconds(190), $"{result.Elapsed}");
        Assert.Empty(await driver.ListVmsAsync());
    }

    [Theory]
    [MemberData(nameof(Drivers))]
    public async Task Only_a_running_VM_is_shut_down(string kind)
    {
        await using var driver = NewDriver(kind);
        await driver.CreateVmAsync(Guest("vm-created", ignoresPowerDown: false));

        await Assert.ThrowsAsync<InvalidOperationException>(() => driver.ShutdownVmAsync("vm-created", TimeSpan.Zero));
        await Assert.ThrowsAsync<VmNotFoundException>(() => driver.ShutdownVmAsync("vm-none", TimeSpan.Zero));
        Assert.Single(await driver.ListVmsAsync());
    }
}
