using System.Collections.Immutable;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Hosting;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class AnalyticDriverOptionsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(1_000_000)]
    public void The_analytic_driver_is_accepted_with_a_time_acceleration_in_range(double acceleration) =>
        Assert.Empty(OmigSiloOptionsValidator.Check(new OmigSiloOptions { Driver = "Analytic", TimeAcceleration = acceleration }));

    [Theory]
    [InlineData(0.5)]
    [InlineData(1_000_001)]
    [InlineData(double.NaN)]
    public void A_time_acceleration_out_of_range_is_refused_naming_the_key(double acceleration) =>
        Assert.Contains(OmigSiloOptionsValidator.Check(new OmigSiloOptions { Driver = "analytic", TimeAcceleration = acceleration }),
            e => e.StartsWith("Omig:TimeAcceleration:", StringComparison.Ordinal));

    [Fact]
    public void The_time_acceleration_matters_only_to_the_analytic_driver() =>
        Assert.Empty(OmigSiloOptionsValidator.Check(new OmigSiloOptions { Driver = "simulated", TimeAcceleration = 0 }));

    [Fact]
    public void A_modelled_guest_keeps_its_registered_size_and_a_byte_real_one_gets_the_simulated_size()
    {
        var vm = TestFleet.Vm("an-spec", memoryMiB: 32768) with
        {
            Labels = ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.DirtyLabel, "80").Add(SimulatedVmSpecs.HotSetLabel, "1024"),
        };
        var options = new HostRuntimeOptions();

        var modelled = SimulatedVmSpecs.From(vm, options, modelled: true);
        var real = SimulatedVmSpecs.From(vm, options);

        Assert.Equal(32768, modelled.MemoryMiB);
        Assert.Equal(1024, modelled.Simulation!.Workload!.HotSetMiB);
        Assert.Equal(80, modelled.Simulation.Workload.DirtyMegabytesPerSecond);
        Assert.Equal(options.SimulatedGuestMiB, real.MemoryMiB);
        Assert.Equal(options.SimulatedGuestMiB, real.Simulation!.Workload!.HotSetMiB);
    }
}
