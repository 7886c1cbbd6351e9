using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig vm migrate --cold</c> against an embedded cluster: a cold move runs and is shown as one; bad input gets
/// one line naming the field and the reason, its exit code, and nothing changes.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(EmbeddedCollection.Name)]
public sealed class ColdMoveCommandTests(EmbeddedFixture fixture)
{
    [Fact]
    public async Task A_cold_move_runs_to_the_end_and_shows_how_the_guest_stopped_and_its_downtime()
    {
        var (_, to, vm) = await fixture.FleetAsync();

        var (code, stdout, stderr) = await fixture.OmigAsync("vm", "migrate", vm.VmId, "--to", to, "--policy", "passthrough", "--cold", "--wait");

        Assert.True(code == ExitCodes.Ok, stderr + stdout);
        Assert.Contains("cold", stdout, StringComparison.Ordinal);
        Assert.Contains("graceful", stdout, StringComparison.Ordinal);
        Assert.Contains("downtime (stopped → running)", stdout, StringComparison.Ordinal);
        Assert.Equal(to, (await fixture.Client.GetVmAsync(vm.VmId)).HostId);
    }

    [Fact]
    public async Task Cold_when_the_policy_never_moves_cold_is_refused_in_one_line_and_nothing_changes()
    {
        var (from, to, vm) = await fixture.FleetAsync();

        var (code, _, stderr) = await fixture.OmigAsync("vm", "migrate", vm.VmId, "--to", to, "--policy", "critical", "--cold");

        Assert.Equal(ExitCodes.Incompatible, code);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("cold", stderr, StringComparison.Ordinal);
        Assert.Contains("ColdMove=never", stderr, StringComparison.Ordinal);
        await AssertUnchangedAsync(vm.VmId, from, to);
    }

    [Fact]
    public async Task Cold_on_a_VM_that_is_neither_running_nor_stopped_is_refused_in_one_line_and_nothing_changes()
    {
        var (from, to, vm) = await fixture.FleetAsync();
        await fixture.Client.Grains.GetGrain<IVmGrain>(vm.VmId).SetPowerAsync(PowerState.Lost);

        var (code, _, stderr) = await fixture.OmigAsync("vm", "migrate", vm.VmId, "--to", to, "--policy", "passthrough", "--cold");

        Assert.Equal(ExitCodes.Conflict, code);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("vm", stderr, StringComparison.Ordinal);
        Assert.Contains("running or stopped", stderr, StringComparison.Ordinal);
        await AssertUnchangedAsync(vm.VmId, from, to);
        Assert.Equal(PowerState.Lost, (await fixture.Client.GetVmAsync(vm.VmId)).Power);
    }

    [Fact]
    public async Task Cold_with_dry_run_is_refused_as_invalid_input()
    {
        var (from, to, vm) = await fixture.FleetAsync();

        var (code, _, stderr) = await fixture.OmigAsync("vm", "migrate", vm.VmId, "--to", to, "--cold", "--dry-run");

        Assert.Equal(ExitCodes.InvalidInput, code);
        Assert.Contains("--dry-run", stderr, StringComparison.Ordinal);
        await AssertUnchangedAsync(vm.VmId, from, to);
    }

    private async Task AssertUnchangedAsync(string vmId, string from, string to)
    {
        Assert.Equal(from, (await fixture.Client.GetVmAsync(vmId)).HostId);
        Assert.Empty((await fixture.Client.GetHostAsync(to)).Reservations);
        Assert.DoesNotContain(await fixture.Client.ListMigrationsAsync(includeEnded: true), m => m.Request.VmId == vmId);
    }
}
