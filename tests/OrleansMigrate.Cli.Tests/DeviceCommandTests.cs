using OrleansMigrate.Cli.Commands;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>--device</c> on <c>omig host add|update</c> and <c>omig vm create</c> through the real process: a malformed
/// spec names the flag and the part that is wrong, a request no host can meet names the device; both exit non-zero on one
/// line and change nothing.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(EmbeddedCollection.Name)]
public sealed class DeviceCommandTests(EmbeddedFixture fixture)
{
    [Fact]
    public async Task Host_add_and_update_take_devices_and_host_show_lists_them_with_what_is_free()
    {
        var host = $"h-{Guid.NewGuid():N}"[..12];

        var (add, _, addErr) = await fixture.OmigAsync("host", "add", host, "--cores", "32", "--memory", "128G", "--device", "gpu:A10:4", "--device", "vf:mlx5:16");
        Assert.True(add == ExitCodes.Ok, addErr);
        var (update, _, updateErr) = await fixture.OmigAsync("host", "update", host, "--device", "gpu:A10:2", "--device", "fpga:U250:1");
        Assert.True(update == ExitCodes.Ok, updateErr);
        var (show, stdout, _) = await fixture.OmigAsync("host", "show", host);

        Assert.Equal(ExitCodes.Ok, show);
        Assert.Contains("gpu:A10:2 (0 held, 2 free)", stdout, StringComparison.Ordinal);
        Assert.Contains("fpga:U250:1 (0 held, 1 free)", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("vf:mlx5", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gpu:A10", "--device: 'gpu:A10' is not KIND:MODEL:COUNT")]
    [InlineData("tpu:v4:1", "--device: kind 'tpu' in 'tpu:v4:1' is not one of gpu, fpga, vf, vgpu")]
    [InlineData("gpu:A10:0", "--device: count '0' in 'gpu:A10:0' is not a whole number from 1 to 1024")]
    public async Task A_malformed_device_exits_invalid_input_naming_the_flag_and_creates_nothing(string device, string message)
    {
        var (from, _, _) = await fixture.FleetAsync();
        var vmId = $"vm-{Guid.NewGuid():N}"[..12];

        var (code, stdout, stderr) = await fixture.OmigAsync("vm", "create", vmId, "--host", from, "--device", device);
        var (hostCode, _, hostErr) = await fixture.OmigAsync("host", "update", from, "--device", device);

        Assert.Equal((ExitCodes.InvalidInput, ExitCodes.InvalidInput), (code, hostCode));
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.Contains(message, hostErr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Equal("", stdout);
        Assert.DoesNotContain(await fixture.Client.ListVmsAsync(), v => v.VmId == vmId);
        Assert.Empty((await fixture.Client.GetHostAsync(from)).Spec.Devices);
    }

    [Fact]
    public async Task A_device_request_the_host_cannot_meet_exits_insufficient_capacity_naming_the_device_and_creates_nothing()
    {
        var (from, _, _) = await fixture.FleetAsync();
        var vmId = $"vm-{Guid.NewGuid():N}"[..12];

        var (code, stdout, stderr) = await fixture.OmigAsync("vm", "create", vmId, "--host", from, "--device", "gpu:A10:1");

        Assert.Equal(ExitCodes.InsufficientCapacity, code);
        Assert.Contains($"host {from} has 0 free gpu:A10, needs 1", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Equal("", stdout);
        Assert.DoesNotContain(await fixture.Client.ListVmsAsync(), v => v.VmId == vmId);
        Assert.Single((await fixture.Client.GetHostAsync(from)).Vms);
    }
}
