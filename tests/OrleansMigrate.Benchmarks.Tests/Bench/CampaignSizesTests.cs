using System.Collections.Immutable;
using System.CommandLine;
using OrleansMigrate.Cli.Bench;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig bench campaign --hosts A,B,C</c>: the sizes it takes, and how it judges the rows against the scale
/// targets (each target can fail on its own).</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class CampaignSizesTests
{
    private static CampaignSizeRow Row(int hosts, double rate = 300, double setupS = -1, double bytesPerVm = 40_000, int lost = 0, int violations = 0, int upgraded = -1) =>
        new(hosts, hosts * 20, setupS < 0 ? hosts * 0.02 : setupS, rate, 20, 700, bytesPerVm, 10_000, lost, violations, upgraded < 0 ? hosts : upgraded, hosts * 20,
            60, ImmutableSortedDictionary<string, double>.Empty);

    public static TheoryData<string, CampaignSizeRow[], bool> Cases => new()
    {
        { "flat", [Row(1000), Row(3000, rate: 290), Row(10000, rate: 250)], true },
        { "rate fell by more than a fifth", [Row(1000), Row(10000, rate: 230)], false },
        { "below 200/s at one size", [Row(1000, rate: 210), Row(3000, rate: 199), Row(10000, rate: 205)], false },
        { "setup grew faster than the fleet", [Row(1000), Row(10000, setupS: 10000 * 0.02 * 1.3)], false },
        { "memory per VM grew", [Row(1000), Row(10000, bytesPerVm: 49_000)], false },
        { "a VM lost", [Row(1000), Row(3000, lost: 1)], false },
        { "an invariant violated", [Row(1000, violations: 2), Row(3000)], false },
        { "a host not upgraded", [Row(1000), Row(3000, upgraded: 2999)], false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_targets_are_judged_over_the_sizes(string why, CampaignSizeRow[] rows, bool met)
    {
        var result = CampaignSizesBenchmark.Judge([.. rows.Reverse()]);

        Assert.True(met == result.TargetsMet, why);
        Assert.Equal(rows.Select(r => r.Hosts).Order(), result.Sizes.Select(r => r.Hosts));
    }

    [Fact]
    public void The_ratios_are_the_largest_fleet_against_the_smallest()
    {
        var result = CampaignSizesBenchmark.Judge([Row(1000, rate: 400, setupS: 20, bytesPerVm: 40_000), Row(10000, rate: 300, setupS: 220, bytesPerVm: 44_000)]);

        Assert.Equal(0.75, result.RateRatio);
        Assert.Equal(1.1, result.SetupPerVmRatio);
        Assert.Equal(0.1, result.MemPerVmSpread);
    }

    [Theory]
    [InlineData("1000", new[] { 1000 })]
    [InlineData("1000,3000, 10000", new[] { 1000, 3000, 10000 })]
    public void Sizes_parse(string text, int[] sizes) => Assert.Equal(sizes, BenchCommands.ParseSizes(text));

    [Theory]
    [InlineData("")]
    [InlineData("1000,,3000")]
    [InlineData("1")]
    [InlineData("20001")]
    [InlineData("1e3")]
    [InlineData("-5")]
    [InlineData("1000,1000")]
    public void Bad_sizes_are_refused_naming_the_option(string text)
    {
        var ex = Assert.Throws<OmigException>(() => BenchCommands.ParseSizes(text));
        Assert.Equal("--hosts", ex.Field);
    }
}
