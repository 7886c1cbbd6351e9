using System.Net;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Tests.Placement;

/// <summary>Control-plane grains spread over the control silos by their id, whoever calls first.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class ControlPlaneSpreadTests
{
    private static readonly SiloAddress[] Silos = [.. Enumerable.Range(0, 3).Select(i => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111 + i), 100 + i))];

    [Fact]
    public void Grains_spread_evenly_over_three_control_silos_and_land_on_the_same_one_whatever_the_order()
    {
        var counts = new Dictionary<SiloAddress, int>();
        for (var i = 0; i < 3000; i++)
        {
            var id = $"migrationgrain/mig-{i:x12}";
            var silo = ControlPlanePlacementDirector.Choose(Silos, id);
            Assert.Equal(silo, ControlPlanePlacementDirector.Choose([.. Silos.Reverse()], id));
            counts[silo] = counts.GetValueOrDefault(silo) + 1;
        }

        Assert.Equal(3, counts.Count);
        Assert.All(counts.Values, n => Assert.InRange(n, 800, 1200));
    }

    [Fact]
    public void The_scheduler_shards_do_not_all_land_on_one_silo()
    {
        var used = Enumerable.Range(0, OrleansMigrate.Migration.IMigrationSchedulerGrain.Shards)
            .Select(s => ControlPlanePlacementDirector.Choose(Silos, "migrationscheduler/" + OrleansMigrate.Migration.SchedulerShards.KeyOf(s))).Distinct().Count();
        Assert.Equal(3, used);
    }

    [Fact]
    public void One_control_silo_takes_everything() =>
        Assert.Equal(Silos[1], ControlPlanePlacementDirector.Choose([Silos[1]], "anything/x"));
}
