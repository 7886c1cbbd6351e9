using OrleansMigrate.Cli.Bench;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig bench power</c>'s input: each option out of range is refused naming its flag, before a cluster starts.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class PowerBenchInputTests
{
    [Theory]
    [InlineData(1, 10, 20, 1000, "--hosts")]
    [InlineData(20_001, 10, 20, 1000, "--hosts")]
    [InlineData(100, 0, 20, 1000, "--vms-per-host")]
    [InlineData(100, 31, 20, 1000, "--vms-per-host")]
    [InlineData(100, 10, 91, 1000, "--headroom")]
    [InlineData(100, 10, -1, 1000, "--headroom")]
    [InlineData(100, 10, 20, 0.5, "--acceleration")]
    public async Task An_option_out_of_range_is_refused_naming_it(int hosts, int perHost, int headroom, double acceleration, string field)
    {
        var options = new PowerBenchmarkOptions(hosts, perHost, headroom, acceleration);

        Assert.Equal(field, Assert.Throws<OmigException>(options.Validate).Field);
        Assert.Equal(field, (await Assert.ThrowsAsync<OmigException>(() => new PowerBenchmark(options, _ => { }).RunAsync(CancellationToken.None))).Field);
    }

    [Fact]
    public void The_targets_need_every_figure()
    {
        var ok = new PowerBenchmarkResult(1000, 10000, 600, 600, 6000, 1.2, 600, 0, 0, 0, 6000, 0.5, 40, "completed", 0, 20, 25, 1000, 20.3);

        Assert.True(ok.TargetsMet);
        Assert.False((ok with { HostsFreed = 539 }).TargetsMet);
        Assert.False((ok with { PlanS = 10.5 }).TargetsMet);
        Assert.False((ok with { HeadroomViolations = 1 }).TargetsMet);
        Assert.False((ok with { VmsLost = 1 }).TargetsMet);
        Assert.False((ok with { InvariantViolations = 1 }).TargetsMet);
        Assert.False((ok with { HostsPoweredOff = 599 }).TargetsMet);
        Assert.False((ok with { OffHostsWithVms = 1 }).TargetsMet);
    }
}
