using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Tests.Fleet;

/// <summary>The <c>KIND:MODEL:COUNT</c> syntax of <c>--device</c>, the device lists' validation, and the host ledger's device sums.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DeviceCountsTests
{
    [Theory]
    [InlineData("gpu:A10:4", DeviceKind.Gpu, "A10", 4)]
    [InlineData("fpga:U250:1", DeviceKind.Fpga, "U250", 1)]
    [InlineData("vf:mlx5:16", DeviceKind.Vf, "mlx5", 16)]
    [InlineData("vgpu:A10-4Q:1", DeviceKind.Vgpu, "A10-4Q", 1)]
    public void A_well_formed_device_parses_to_its_kind_model_and_count(string text, DeviceKind kind, string model, int count)
    {
        var device = DeviceCounts.Parse("--device", text);

        Assert.Equal(new DeviceCount(kind, model, count), device);
        Assert.Equal(text, device.ToString());
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("gpu:A10", "is not KIND:MODEL:COUNT")]
    [InlineData("gpu:A10:1:2", "is not KIND:MODEL:COUNT")]
    [InlineData("tpu:v4:1", "kind 'tpu' in 'tpu:v4:1' is not one of gpu, fpga, vf, vgpu")]
    [InlineData("GPU:A10:1", "kind 'GPU'")]
    [InlineData("gpu::1", "model '' in 'gpu::1' must be 1-64")]
    [InlineData("gpu:A 10:1", "model 'A 10'")]
    [InlineData("gpu:A10:0", "count '0' in 'gpu:A10:0' is not a whole number from 1 to 1024")]
    [InlineData("gpu:A10:-1", "count '-1'")]
    [InlineData("gpu:A10:x", "count 'x'")]
    [InlineData("gpu:A10:1025", "count '1025'")]
    public void A_malformed_device_is_refused_naming_the_flag_and_the_part_that_is_wrong(string text, string reason)
    {
        var ex = Assert.Throws<OmigException>(() => DeviceCounts.Parse("--device", text));

        Assert.Equal((OmigErrorCode.InvalidArgument, "--device"), (ex.Code, ex.Field));
        Assert.Contains(reason, ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_kind_and_model_twice_is_refused_and_different_models_are_not()
    {
        var ex = Assert.Throws<OmigException>(() => DeviceCounts.ParseAll("--device", ["gpu:A10:1", "vf:mlx5:2", "gpu:A10:3"]));
        Assert.Equal("--device[2]", ex.Field);
        Assert.Contains("gpu:A10 is listed twice", ex.Reason, StringComparison.Ordinal);

        Assert.Equal(2, DeviceCounts.ParseAll("--device", ["gpu:A10:1", "gpu:A100:1"]).Length);
    }

    [Fact]
    public void A_VM_asking_for_more_than_64_of_one_device_is_refused_by_the_shape_rules()
    {
        var vm = new VmSpec("vm-1", 4, 8192, [], "standard", ImmutableDictionary<string, string>.Empty, [new DiskSpec("vm-1-root", 40)], [], [])
        {
            Devices = [new DeviceCount(DeviceKind.Vf, "mlx5", 65)],
        };

        var ex = Assert.Throws<OmigException>(() => FleetValidation.ValidateVm(vm));

        Assert.Equal("devices[0].count", ex.Field);
        Assert.Contains("between 1 and 64", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_spec_built_without_devices_reads_them_as_empty_never_default()
    {
        var vm = new VmSpec("vm-1", 4, 8192, [], "standard", ImmutableDictionary<string, string>.Empty, [], [], []);
        var host = new HostSpec("h-1", 8, 8192, "cpu", [], 1, "1.0", "6.1", "7.2.0", ImmutableDictionary<string, string>.Empty);

        Assert.False(vm.Devices.IsDefault);
        Assert.Empty(vm.Devices);
        Assert.False(host.Devices.IsDefault);
        Assert.False(new Placement(1, 1).Devices.IsDefault);
    }

    [Fact]
    public void The_ledger_counts_placed_VMs_and_reservations_against_what_the_host_offers_and_names_the_missing_device()
    {
        var spec = new HostSpec("h-3", 64, 262144, "cpu", [], 1, "1.0", "6.1", "7.2.0", ImmutableDictionary<string, string>.Empty)
        {
            Devices = [new DeviceCount(DeviceKind.Gpu, "A10", 2), new DeviceCount(DeviceKind.Vf, "mlx5", 8)],
        };
        var host = new HostRecord(spec, HostHealth.Ok, SchedulingState.Schedulable,
            ImmutableDictionary<string, Placement>.Empty.Add("vm-a", new Placement(2, 1024) { Devices = [new DeviceCount(DeviceKind.Gpu, "A10", 1), new DeviceCount(DeviceKind.Vf, "mlx5", 2)] }),
            ImmutableDictionary<string, Placement>.Empty.Add("mig-1", new Placement(2, 1024) { Devices = [new DeviceCount(DeviceKind.Gpu, "A10", 1)] }),
            DateTimeOffset.UnixEpoch);

        Assert.Equal((2, 0), (host.UsedDevices("gpu:A10"), host.FreeDevices("gpu:A10")));
        Assert.Equal(6, host.FreeDevices("vf:mlx5"));
        Assert.Equal(0, host.FreeDevices("fpga:U250"));
        Assert.Equal("host h-3 has 0 free gpu:A10, needs 1", host.MissingDevice([new DeviceCount(DeviceKind.Gpu, "A10", 1)]));
        Assert.Equal("host h-3 has 0 free fpga:U250, needs 1", host.MissingDevice([new DeviceCount(DeviceKind.Fpga, "U250", 1)]));
        Assert.Null(host.MissingDevice([new DeviceCount(DeviceKind.Vf, "mlx5", 6)]));
        Assert.Equal("host h-3 has 6 free vf:mlx5, needs 7", host.MissingDevice([new DeviceCount(DeviceKind.Vf, "mlx5", 7)]));
    }

    [Fact]
    public void Placements_with_the_same_devices_in_another_order_are_equal_so_a_replayed_reservation_is_idempotent()
    {
        var a = new Placement(2, 1024) { Devices = [new DeviceCount(DeviceKind.Gpu, "A10", 1), new DeviceCount(DeviceKind.Vf, "mlx5", 2)] };
        var b = new Placement(2, 1024) { Devices = [new DeviceCount(DeviceKind.Vf, "mlx5", 2), new DeviceCount(DeviceKind.Gpu, "A10", 1)] };

        Assert.Equal(a, b);
        Assert.NotEqual(a, new Placement(2, 1024) { Devices = [new DeviceCount(DeviceKind.Vf, "mlx5", 1), new DeviceCount(DeviceKind.Gpu, "A10", 1)] });
        Assert.NotEqual(a, new Placement(2, 1024));
    }
}
