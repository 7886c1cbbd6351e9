using OrleansMigrate.Agents;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Tests.Placement;

[Collection(ClusterCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class HostPinningTests(ClusterFixture fixture)
{
    [Theory]
    [InlineData("h-a")]
    [InlineData("h-b")]
    [InlineData("h-c")]
    public async Task The_agent_of_host_X_activates_on_the_silo_that_serves_X(string hostId)
    {
        var info = await fixture.Cluster.Client.GetGrain<IHostAgentGrain>(hostId).GetInfoAsync();

        Assert.Equal(hostId, info.HostId);
        Assert.Equal(ClusterFixture.HostSilos[hostId], info.SiloName);
    }

    [Fact]
    public async Task A_host_no_silo_serves_fails_with_Unavailable_instead_of_activating_elsewhere()
    {
        var ex = await Assert.ThrowsAsync<OmigException>(() =>
            fixture.Cluster.Client.GetGrain<IHostAgentGrain>("h-nowhere").GetInfoAsync());

        Assert.Equal(OmigErrorCode.Unavailable, ex.Code);
        Assert.Contains("h-nowhere", ex.Message);
    }

    [Fact]
    public async Task Cluster_status_lists_each_silo_with_its_roles_and_hosts()
    {
        var silos = await fixture.Client.GetSilosAsync();

        var control = Assert.Single(silos, s => s.Name == ClusterFixture.ControlSilo);
        Assert.Equal(["control"], control.Roles.ToArray());
        var hostSilo = Assert.Single(silos, s => s.Name == "Silo_1");
        Assert.Equal(["host"], hostSilo.Roles.ToArray());
        Assert.Equal(["h-a", "h-b"], hostSilo.Hosts.ToArray());
    }
}
