using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Grains.Planning;
using OrleansMigrate.Tests.Planning;

namespace OrleansMigrate.Tests.Placement;

/// <summary>Devices in placement: the selector's refusals and per-kind rules, the planners' fast check agreeing with it,
/// and defrag and balance never putting a device VM on a host without its devices free.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DevicePlacementTests
{
    private static readonly DeviceCount A10 = new(DeviceKind.Gpu, "A10", 1);
    private static readonly DeviceCount Vf2 = new(DeviceKind.Vf, "mlx5", 2);
    private static readonly DeviceCount Vgpu = new(DeviceKind.Vgpu, "A10-4Q", 1);

    private static HostRecord Host(string id, string hv = "7.2.0", DeviceCount[]? devices = null, params (string Id, DeviceCount[] Devices)[] held) =>
        new(new HostSpec(id, 64, 262144, "Xeon", ["avx", "avx2"], 3, "2.0.0", "6.1.0", hv, ImmutableDictionary<string, string>.Empty) { Devices = [.. devices ?? []] },
            HostHealth.Ok, SchedulingState.Schedulable,
            held.ToImmutableDictionary(h => h.Id, h => new OrleansMigrate.Fleet.Placement(1, 1024) { Devices = [.. h.Devices] }),
            ImmutableDictionary<string, OrleansMigrate.Fleet.Placement>.Empty, DateTimeOffset.UnixEpoch);

    private static VmRecord Vm(params DeviceCount[] devices) =>
        new(new VmSpec("vm-1", 4, 16384, ["avx2"], "standard", ImmutableDictionary<string, string>.Empty, [], [], []) { Devices = [.. devices] },
            "src", PowerState.Running, DateTimeOffset.UnixEpoch);

    private static string? Refusal(VmRecord vm, HostRecord candidate, string sourceHv = "7.2.0") =>
        DestinationSelector.Refusal(vm, Host("src", sourceHv), candidate, [], MigrationPolicy.BuiltIn["standard"]);

    [Fact]
    public void A_host_without_the_device_free_is_refused_naming_what_it_has_and_what_the_VM_needs()
    {
        Assert.Equal("host dst has 0 free vf:mlx5, needs 2", Refusal(Vm(Vf2), Host("dst")));
        Assert.Equal("host dst has 1 free vf:mlx5, needs 2", Refusal(Vm(Vf2), Host("dst", devices: [new(DeviceKind.Vf, "mlx5", 4)], held: ("other", [new(DeviceKind.Vf, "mlx5", 3)]))));
        Assert.Equal("host dst has 0 free vf:mlx5, needs 2", Refusal(Vm(Vf2), Host("dst", devices: [new(DeviceKind.Vf, "cx6", 8)])));
        Assert.Null(Refusal(Vm(Vf2), Host("dst", devices: [new(DeviceKind.Vf, "mlx5", 2)])));
        Assert.Null(Refusal(Vm(), Host("dst")));
    }

    [Theory]
    [InlineData(DeviceKind.Gpu, "A10", "pass-through gpu:A10 needs a cold move")]
    [InlineData(DeviceKind.Fpga, "U250", "pass-through fpga:U250 needs a cold move")]
    public void A_pass_through_GPU_or_FPGA_makes_the_VM_not_live_movable_with_the_cold_move_reason(DeviceKind kind, string model, string reason)
    {
        var vm = Vm(new DeviceCount(kind, model, 1));

        var refusal = DestinationSelector.NotLiveMovable(vm.Spec, MigrationPolicy.BuiltIn["standard"]);

        Assert.Equal(("devices", reason), (refusal?.Field, refusal?.Reason));
        Assert.Equal(reason, DestinationSelector.NotMovableNow(vm, MigrationPolicy.BuiltIn["standard"])?.Reason);
        Assert.True(PlanRules.IsPinned(vm, PlanRules.BuiltIn));
    }

    [Fact]
    public void VFs_and_vGPUs_do_not_pin_a_VM()
    {
        Assert.Null(DestinationSelector.NotLiveMovable(Vm(Vf2).Spec, MigrationPolicy.BuiltIn["standard"]));
        Assert.Null(DestinationSelector.NotLiveMovable(Vm(Vgpu).Spec, MigrationPolicy.BuiltIn["standard"]));
    }

    [Fact]
    public void A_mediated_vGPU_moves_live_only_between_QEMUs_with_switchover_ack()
    {
        var vm = Vm(Vgpu);
        var offered = new DeviceCount[] { new(DeviceKind.Vgpu, "A10-4Q", 4) };

        Assert.Equal("mediated vgpu:A10-4Q needs QEMU ≥ 8.1 switchover-ack; host src runs QEMU 7.2.0", Refusal(vm, Host("dst", "7.2.0", offered)));
        // A policy that allows an older QEMU still does not get a vGPU onto one without switchover-ack.
        Assert.Equal("mediated vgpu:A10-4Q needs QEMU ≥ 8.1 switchover-ack; host dst runs QEMU 7.2.0",
            DestinationSelector.Refusal(vm, Host("src", "8.1.0"), Host("dst", "7.2.0", offered), [], MigrationPolicy.BuiltIn["any-version"]));
        Assert.Contains("host src runs QEMU 7.2.0", Refusal(vm, Host("dst", "8.1.0", offered)), StringComparison.Ordinal);
        Assert.Null(Refusal(vm, Host("dst", "8.2", offered), sourceHv: "8.1.0"));
        Assert.Equal("host dst has 0 free vgpu:A10-4Q, needs 1", Refusal(vm, Host("dst", "8.2"), sourceHv: "8.1.0"));
    }

    [Fact]
    public void VF_hot_plug_ids_name_each_VF_by_model_and_index()
    {
        var spec = Vm(new DeviceCount(DeviceKind.Vf, "mlx5", 2), new DeviceCount(DeviceKind.Vf, "e810:x", 1), A10).Spec;

        Assert.Equal(["vf-mlx5-0", "vf-mlx5-1", "vf-e810-x-0"], DeviceRules.HotplugIds(spec));
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void The_planners_fast_check_agrees_with_the_selector_on_random_fleets_with_devices(int seed)
    {
        var random = new Random(seed);
        DeviceCount[] kinds = [new(DeviceKind.Vf, "mlx5", 1), new(DeviceKind.Gpu, "A10", 1), new(DeviceKind.Vgpu, "A10-4Q", 1), new(DeviceKind.Fpga, "U250", 1)];
        var fleet = new PlanningFleet();
        var offered = new Dictionary<string, Dictionary<string, int>>();
        for (var h = 0; h < 12; h++)
        {
            var id = $"h-{h}";
            var devices = kinds.Where(_ => random.Next(2) == 0).Select(k => k with { Count = random.Next(1, 5) }).ToArray();
            fleet.Host(id, cores: 64, memoryGiB: 512, hypervisor: random.Next(2) == 0 ? "7.2.0" : "8.1.0", devices: devices);
            offered[id] = devices.ToDictionary(d => d.Key, d => d.Count);
        }

        for (var v = 0; v < 60; v++)
        {
            var host = $"h-{random.Next(12)}";
            var free = offered[host];
            var wanted = kinds.Where(k => k.Kind != DeviceKind.Gpu && random.Next(3) == 0 && free.GetValueOrDefault(k.Key) > 0)
                .Select(k => k with { Count = 1 }).ToArray();
            foreach (var d in wanted)
            {
                free[d.Key]--;
            }

            fleet.Vm($"vm-{v}", host, 1, 1, devices: wanted);
        }

        var snapshot = fleet.Build();
        var state = new FleetState(snapshot, PlanRules.BuiltIn);
        var applied = new List<PlannedMove>();
        var allowedSome = false;
        var refusedForDevices = false;
        for (var round = 0; round < 4; round++)
        {
            var records = PlanVerifier.Apply(snapshot, applied).After;
            var hosts = records.Hosts.ToDictionary(h => h.HostId);
            for (var v = 0; v < state.Vms.Length; v++)
            {
                var vm = records.Vms[v];
                for (var d = 0; d < state.Hosts.Length; d++)
                {
                    var slow = DestinationSelector.Refusal(vm, hosts[vm.HostId], hosts[state.Hosts[d].HostId], [], PlanRules.BuiltIn(vm));
                    Assert.True((slow is null) == state.Allows(v, d), $"seed {seed} round {round}: {vm.VmId} → {state.Hosts[d].HostId}: the selector says '{slow ?? "ok"}'");
                    allowedSome |= slow is null && !vm.Spec.Devices.IsEmpty;
                    refusedForDevices |= slow is not null && (slow.Contains(" free ", StringComparison.Ordinal) || slow.Contains("switchover-ack", StringComparison.Ordinal));
                }
            }

            for (var i = 0; i < 40; i++)
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

        Assert.True(allowedSome && refusedForDevices, "the random fleets should both allow and refuse device VMs");
    }

    [Fact]
    public void Defrag_moves_a_VF_VM_only_to_a_host_with_free_VFs()
    {
        var vf = new DeviceCount(DeviceKind.Vf, "mlx5", 1);
        var shape = new InstanceShape(24, 32 * 1024);
        PlanningFleet Fleet(DeviceCount[] onH2) => new PlanningFleet()
            .Host("h-1", cores: 32, memoryGiB: 128, devices: [vf])
            .Host("h-2", cores: 32, memoryGiB: 128, devices: onH2)
            .Vm("vf-vm", "h-1", 10, 16, devices: [vf])
            .Vm("pinned", "h-2", 10, 16, instanceClass: PlanRules.PassthroughClass);

        var without = DefragPlanner.Plan(Fleet([]).Build(), shape, 1);
        var with = DefragPlanner.Plan(Fleet([vf]).Build(), shape, 1);

        Assert.False(without.Reached);
        Assert.Empty(without.Moves);
        Assert.True(with.Reached);
        Assert.Equal(("vf-vm", "h-2"), (with.Moves.Single().VmId, with.Moves.Single().ToHost));
    }

    [Fact]
    public void Balance_moves_a_hot_hosts_VF_VM_to_the_host_with_VFs_rather_than_the_emptiest_one()
    {
        var vf = new DeviceCount(DeviceKind.Vf, "mlx5", 1);
        var fleet = new PlanningFleet()
            .Host("h-1", cores: 16, memoryGiB: 64, devices: [vf])
            .Host("h-2", cores: 64, memoryGiB: 512)
            .Host("h-3", cores: 24, memoryGiB: 96, devices: [vf])
            .Vm("vf-vm", "h-1", 12, 16, devices: [vf])
            .Build();

        var plan = BalancePlanner.Plan(fleet, 0.6, ImmutableDictionary<string, DateTimeOffset>.Empty, TimeSpan.Zero, DateTimeOffset.UnixEpoch);

        var move = Assert.Single(plan.Moves);
        Assert.Equal(("vf-vm", "h-3"), (move.VmId, move.ToHost));
    }
}
