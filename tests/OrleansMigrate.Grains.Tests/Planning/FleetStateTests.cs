using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Planning;

namespace OrleansMigrate.Tests.Planning;

/// <summary>The planners' fast placement check says exactly what <see cref="DestinationSelector.Refusal"/> says.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class FleetStateTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void The_fast_check_agrees_with_DestinationSelector_on_random_fleets_before_and_after_moves(int seed)
    {
        var fleet = PlanningFleet.Random(seed, hostCount: 25, vmCount: 200);
        var state = new FleetState(fleet, PlanRules.BuiltIn);
        var random = new Random(seed);
        var applied = new List<PlannedMove>();
        var accepted = 0;

        for (var round = 0; round < 4; round++)
        {
            // The registry's view of the current state, rebuilt independently by the verifier.
            var records = PlanVerifier.Apply(fleet, applied).After;
            var hosts = records.Hosts.ToDictionary(h => h.HostId);
            var on = records.Vms.GroupBy(v => v.HostId).ToDictionary(g => g.Key, g => (IReadOnlyCollection<VmRecord>)g.ToList());
            for (var v = 0; v < state.Vms.Length; v++)
            {
                var vm = records.Vms[v];
                Assert.Equal(vm.HostId, state.Hosts[state.VmHost[v]].HostId);
                for (var d = 0; d < state.Hosts.Length; d++)
                {
                    var candidate = state.Hosts[d];
                    var slow = DestinationSelector.Refusal(vm, hosts[vm.HostId], hosts[candidate.HostId], on.GetValueOrDefault(candidate.HostId, []), PlanRules.BuiltIn(vm));
                    Assert.True((slow is null) == state.Allows(v, d), $"seed {seed} round {round}: {vm.VmId} → {candidate.HostId}: DestinationSelector says '{slow ?? "ok"}'");
                    accepted += slow is null ? 1 : 0;
                }
            }

            // Move a few VMs the rules allow (pinned ones included: the check is about placement only).
            for (var i = 0; i < 30; i++)
            {
                var v = random.Next(state.Vms.Length);
                var d = random.Next(state.Hosts.Length);
                if (state.Allows(v, d))
                {
                    var from = state.VmHost[v];
                    state.Move(v, d);
                    applied.Add(state.ToMove(v, from, d));
                }
            }
        }

        Assert.True(accepted > 0, "the random fleets should allow some moves");
    }

    [Fact]
    public void Revert_restores_capacity_groups_and_membership()
    {
        var fleet = PlanningFleet.Random(7, 10, 60);
        var state = new FleetState(fleet, PlanRules.BuiltIn);
        var before = Snapshot(state);
        var undo = new List<FleetState.Undo>();
        for (var v = 0; v < state.Vms.Length && undo.Count < 10; v++)
        {
            for (var d = 0; d < state.Hosts.Length; d++)
            {
                if (state.Allows(v, d))
                {
                    undo.Add(state.Move(v, d));
                    break;
                }
            }
        }

        Assert.NotEmpty(undo);
        for (var i = undo.Count - 1; i >= 0; i--)
        {
            state.Revert(undo[i]);
        }

        Assert.Equal(before, Snapshot(state));
    }

    private static string Snapshot(FleetState state) =>
        string.Join(';', Enumerable.Range(0, state.Hosts.Length).Select(h => $"{state.FreeVcpus[h]}/{state.FreeMemory[h]}:{string.Join(',', state.VmsOn[h].Order())}"))
        + "|" + string.Join(',', Enumerable.Range(0, state.Vms.Length).SelectMany(v => Enumerable.Range(0, state.Hosts.Length).Select(d => state.Allows(v, d) ? '1' : '0')));
}
