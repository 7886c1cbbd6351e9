using System.Collections.Immutable;
using System.Text.Json;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig power …</c> and <c>omig host power</c> as the real process runs them: bad input gets one line with the
/// field and the reason, its exit code, and changes nothing. Each test's hosts are in a rack of their own.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(EmbeddedCollection.Name)]
public sealed class PowerCommandTests(EmbeddedFixture fixture)
{
    [Theory]
    [InlineData("95")]
    [InlineData("-1")]
    public async Task A_headroom_out_of_range_is_invalid_input(string headroom)
    {
        var (code, stdout, stderr) = await fixture.OmigAsync("power", "plan", "--headroom", headroom);

        Assert.Equal(ExitCodes.InvalidInput, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("headroom", stderr, StringComparison.Ordinal);
        Assert.Contains("between 0 and 90", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Powering_off_an_unknown_host_a_host_with_VMs_or_below_the_headroom_is_refused_and_nothing_changes()
    {
        var (rack, a, b) = await RackAsync();
        await fixture.Client.CreateVmAsync(new VmSpec($"vm-{rack}", 28, 4096, ["avx"], "standard", ImmutableDictionary<string, string>.Empty,
            [new DiskSpec($"vm-{rack}-root", 10)], [], []), a);

        var unknown = await fixture.OmigAsync("host", "power", $"nohost-{rack}", "off");
        var withVms = await fixture.OmigAsync("host", "power", a, "off");
        var headroom = await fixture.OmigAsync("host", "power", b, "off");
        var sideways = await fixture.OmigAsync("host", "power", b, "sideways");

        Assert.Equal(ExitCodes.NotFound, unknown.Code);
        Assert.Equal(ExitCodes.Conflict, withVms.Code);
        Assert.Contains("runs 1 VM(s): drain it before powering it off", withVms.Stderr, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Conflict, headroom.Code);
        Assert.Contains("under the 20 % headroom", headroom.Stderr, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.InvalidInput, sideways.Code);
        Assert.Contains("STATE", sideways.Stderr, StringComparison.Ordinal);
        Assert.All(new[] { unknown, withVms, headroom, sideways }, r => Assert.Single(r.Stderr.Trim().Split('\n')));
        Assert.All(await Task.WhenAll(new[] { a, b }.Select(fixture.Client.GetHostAsync)), h => Assert.Equal(HostPowerState.On, h.Power));
    }

    [Fact]
    public async Task An_empty_host_powers_off_and_on_and_host_show_and_power_show_say_so()
    {
        var (_, _, b) = await RackAsync();

        var off = await fixture.OmigAsync("host", "power", b, "off");
        var shown = await fixture.OmigAsync("host", "show", b, "--json");
        var power = await fixture.OmigAsync("power", "show", "--json");
        var list = await fixture.OmigAsync("host", "list");
        var on = await fixture.OmigAsync("host", "power", b, "on");

        Assert.True(off.Code == 0, off.Stderr);
        Assert.Equal("off", JsonDocument.Parse(shown.Stdout).RootElement.GetProperty("host").GetProperty("power").GetString());
        Assert.Contains(b, JsonDocument.Parse(power.Stdout).RootElement.GetProperty("hosts_off").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("POWER", list.Stdout, StringComparison.Ordinal);
        Assert.True(on.Code == 0, on.Stderr);
        Assert.Equal(HostPowerState.On, (await fixture.Client.GetHostAsync(b)).Power);
    }

    [Fact]
    public async Task Apply_without_a_plan_or_twice_is_refused_with_its_exit_code()
    {
        var (rack, _, _) = await RackAsync();
        var plan = await fixture.OmigAsync("power", "plan", "--headroom", "20", "--domain", rack, "--json");
        Assert.True(plan.Code == 0, plan.Stderr);
        Assert.Equal(1, JsonDocument.Parse(plan.Stdout).RootElement.GetProperty("hosts_freed").GetInt32());

        var applied = await fixture.OmigAsync("power", "apply", "--wait");
        var again = await fixture.OmigAsync("power", "apply");

        Assert.True(applied.Code == 0, applied.Stderr);
        Assert.Equal(ExitCodes.Conflict, again.Code);
        Assert.Contains("was applied already", again.Stderr, StringComparison.Ordinal);
        var unknownDomain = await fixture.OmigAsync("power", "plan", "--domain", $"none-{rack}");
        Assert.Equal(ExitCodes.NotFound, unknownDomain.Code);
        foreach (var h in (await fixture.Client.GetPowerAsync()).HostsOff)
        {
            await fixture.Client.SetHostPowerAsync(h, HostPowerState.On);
        }
    }

    private async Task<(string Rack, string A, string B)> RackAsync()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var rack = "pr-" + id;
        var (a, b) = ($"h-{id}-pa", $"h-{id}-pb");
        foreach (var host in new[] { a, b })
        {
            await fixture.Client.AddHostAsync(new HostSpec(host, 32, 131072, "Xeon", ["avx"], 3, "1.0.0", "6.1.0", "7.2.0",
                ImmutableDictionary<string, string>.Empty.Add("rack", rack)));
        }

        return (rack, a, b);
    }
}
