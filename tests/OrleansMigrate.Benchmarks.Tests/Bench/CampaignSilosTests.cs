using OrleansMigrate.Cli.Bench;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig bench campaign --silos N</c>: how it names the grain kinds Orleans reports, finds the silo program
/// and tells a failover's failures from others.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class CampaignSilosTests
{
    [Theory]
    [InlineData("OrleansMigrate.Grains.Operations.CampaignGrain", "campaign")]
    [InlineData("OrleansMigrate.Grains.Operations.HostDrainGrain,OrleansMigrate.Grains", "drain")]
    [InlineData("OrleansMigrate.Grains.Migration.MigrationGrain", "migration")]
    [InlineData("OrleansMigrate.Grains.Migration.MigrationSchedulerGrain", "scheduler")]
    [InlineData("OrleansMigrate.Grains.Migration.MigrationSchedulerShardGrain", "scheduler")]
    [InlineData("OrleansMigrate.Grains.Migration.MigrationHistoryPageGrain", "migration_history")]
    [InlineData("OrleansMigrate.Grains.Fleet.VmIndexGrain", "vm_index")]
    [InlineData("OrleansMigrate.Grains.Fleet.SomethingNewGrain", "something_new")]
    [InlineData("Orleans.Runtime.Management.ManagementGrain", null)]
    [InlineData("", null)]
    public void Grain_types_map_to_the_kinds_of_the_report(string type, string? kind) => Assert.Equal(kind, GrainKinds.Of(type));

    [Fact]
    public void A_silo_dll_that_does_not_exist_is_refused_naming_the_option()
    {
        var ex = Assert.Throws<OmigException>(() => SiloDll.Find("/nonexistent/omig-silo.dll"));
        Assert.Equal(OmigErrorCode.InvalidArgument, ex.Code);
        Assert.Contains("--silo-dll", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Failover_failures_are_retried_and_others_are_not()
    {
        Assert.True(CampaignSilosBenchmark.IsTransient(new TimeoutException()));
        Assert.True(CampaignSilosBenchmark.IsTransient(new SiloUnavailableException("gone")));
        Assert.True(CampaignSilosBenchmark.IsTransient(OmigException.Unavailable(null, "no control silo")));
        Assert.False(CampaignSilosBenchmark.IsTransient(OmigException.Invalid("x", "bad")));
        Assert.False(CampaignSilosBenchmark.IsTransient(new InvalidOperationException()));
    }
}
