using System.Collections.Immutable;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OrleansMigrate.Agents;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Tests.Agents;

/// <summary>A policy's migration channels on the host runtime: mapped onto the driver's options (a tuning from a sender that
/// predates the field is one stream); the simulated driver, whose engine sends one stream, accepts them on both sides and its
/// report says the one stream it ran on.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class MigrationChannelsRuntimeTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(4, 4)]
    [InlineData(16, 16)]
    [InlineData(0, 1)]
    public void The_tunings_channels_become_the_drivers(int tuned, int driven)
    {
        Assert.Equal(driven, DriverHostRuntime.ToOptions(new MigrationTuning(MigrationChannels: tuned)).MigrationChannels);
        Assert.Equal(driven, DriverHostRuntime.Channels(new MigrationTuning(MigrationChannels: tuned)));
    }

    [Fact]
    public void No_tuning_at_the_destination_is_one_stream() => Assert.Equal(1, DriverHostRuntime.Channels(null));

    [Fact]
    public async Task The_simulated_driver_accepts_4_channels_and_reports_the_one_stream_it_ran_on()
    {
        await using var runtime = new DriverHostRuntime(Options.Create(new HostRuntimeOptions { SimulatedGuestMiB = 8, VerifyConsistency = false }),
            NoFaults.Instance, NullLogger<DriverHostRuntime>.Instance);
        var vm = new VmSpec("vm-ch", 1, 1024, [], "standard", ImmutableDictionary<string, string>.Empty, [], [], []);
        var tuning = new MigrationTuning(MigrationChannels: 4);
        await runtime.StartVmAsync("h1", vm);

        var endpoint = await runtime.PrepareIncomingAsync("h2", "m-ch", vm, tuning);
        await runtime.StartOutgoingAsync("h1", "m-ch", vm.VmId, endpoint, tuning);
        for (var i = 0; !(await runtime.WaitOutgoingAsync("h1", "m-ch", TimeSpan.FromSeconds(1))).Paused; i++)
        {
            Assert.True(i < 30, "the source never paused");
        }

        await runtime.FinalCopyAsync("h1", "m-ch");
        await runtime.ResumeIncomingAsync("h2", "m-ch");
        var report = await runtime.CompleteOutgoingAsync("h1", "m-ch", vm.VmId);

        Assert.Equal(HypervisorVmState.Running, await runtime.VmStateAsync("h2", vm.VmId));
        Assert.Equal(1, report!.MigrationChannels);
    }
}
