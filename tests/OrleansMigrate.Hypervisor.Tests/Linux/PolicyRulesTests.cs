using System.Diagnostics;
using System.Net;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Hypervisor.Sessions.Conntrack;
using OrleansMigrate.Testing;

namespace OrleansMigrate.Hypervisor.Tests.Linux;

/// <summary>Rules made over rtnetlink are the rules <c>ip rule</c> shows, in the namespace asked for and nowhere else.</summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class PolicyRulesTests : IDisposable
{
    private readonly string _ns = $"omr-{Environment.ProcessId % 100000}";
    private static readonly IPAddress Vm = IPAddress.Parse("172.30.99.10");

    public PolicyRulesTests() => HostCommand.RunAsync("ip", ["netns", "add", _ns]).GetAwaiter().GetResult();

    public void Dispose() => HostCommand.TryRunAsync("ip", ["netns", "del", _ns]).GetAwaiter().GetResult();

    [Fact]
    public async Task A_rule_added_is_shown_by_ip_rule_a_repeat_is_no_change_and_delete_removes_it()
    {
        Assert.True(PolicyRules.Add(_ns, Vm, 201, 800));
        Assert.Contains("800:\tfrom all to 172.30.99.10 lookup 201", await RulesAsync());
        Assert.False(PolicyRules.Add(_ns, Vm, 201, 800));
        Assert.Single((await RulesAsync()).Split('\n'), l => l.Contains("172.30.99.10", StringComparison.Ordinal));

        // ip rule del finds it by the same fields: the two agree on what the rule is.
        await HostCommand.RunAsync("ip", ["-n", _ns, "rule", "del", "to", "172.30.99.10/32", "lookup", "201", "priority", "800"]);
        Assert.DoesNotContain("172.30.99.10", await RulesAsync());
        Assert.True(PolicyRules.Add(_ns, Vm, 201, 800));
        Assert.True(PolicyRules.Delete(_ns, Vm, 201, 800));
        Assert.False(PolicyRules.Delete(_ns, Vm, 201, 800));
        Assert.DoesNotContain("172.30.99.10", await RulesAsync());

        // Warming runs the path on a rule that cannot exist and changes nothing.
        Assert.True(PolicyRules.Warm(_ns, 201, 800));
        Assert.DoesNotContain("lookup 201", await RulesAsync());

        // Not in this process's namespace.
        Assert.DoesNotContain("172.30.99.10", (await HostCommand.RunAsync("ip", ["rule", "show"])).Stdout);
    }

    [Fact]
    public async Task Switching_costs_less_than_starting_ip_and_a_bad_table_or_namespace_is_refused()
    {
        // Not a timing assertion: both medians are printed side by side.
        var ours = new List<double>();
        var ip = new List<double>();
        for (var i = 0; i < 10; i++)
        {
            var t = Stopwatch.StartNew();
            PolicyRules.Add(_ns, Vm, 201, 800);
            PolicyRules.Delete(_ns, Vm, 201, 800);
            ours.Add(t.Elapsed.TotalMilliseconds / 2);
            t.Restart();
            await HostCommand.RunAsync("ip", ["-n", _ns, "rule", "add", "to", "172.30.99.10/32", "lookup", "201", "priority", "800"]);
            await HostCommand.RunAsync("ip", ["-n", _ns, "rule", "del", "to", "172.30.99.10/32", "lookup", "201", "priority", "800"]);
            ip.Add(t.Elapsed.TotalMilliseconds / 2);
        }

        Console.WriteLine($"policy rule switch, median ms: rtnetlink {ours.Order().ElementAt(5):0.000}, ip {ip.Order().ElementAt(5):0.000}");
        Assert.Throws<ArgumentOutOfRangeException>(() => PolicyRules.Add(_ns, Vm, 0, 800));
        Assert.Throws<ArgumentException>(() => PolicyRules.Add(_ns, IPAddress.IPv6Loopback, 201, 800));
        Assert.ThrowsAny<Exception>(() => PolicyRules.Add("omr-none", Vm, 201, 800));
    }

    private async Task<string> RulesAsync() => (await HostCommand.RunAsync("ip", ["-n", _ns, "rule", "show"])).Stdout;
}
