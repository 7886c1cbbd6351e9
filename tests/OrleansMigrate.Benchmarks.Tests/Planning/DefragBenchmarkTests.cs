using OrleansMigrate.Planning;

namespace OrleansMigrate.Benchmarks.Tests.Planning;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DefragBenchmarkTests
{
    [Fact]
    public void The_benchmark_reports_its_fields_on_a_small_fleet()
    {
        var result = DefragBenchmark.Run(hosts: 100, vms: 2000, seed: 1);

        Assert.Equal(100, result.Hosts);
        Assert.Equal(10, result.Count);
        Assert.True(result.Vms > 1500);
        Assert.True(result.LowerBound is null || result.Moves >= result.LowerBound || !result.Reached);
    }
}
