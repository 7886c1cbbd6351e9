using OrleansMigrate.Lab;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Cloud.Linux;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Grains.Tests.Cloud.Linux;

/// <summary>The linux network backend's and the lab's options, names and firewall text, without touching the machine.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class LinuxNetworkOptionsTests
{
    [Fact]
    public void The_silo_refuses_an_unknown_network_backend_and_bad_linux_options_by_key()
    {
        var options = new OmigSiloOptions();
        options.Cloud.Network.Backend = "openflow";
        Assert.Contains(OmigSiloOptionsValidator.Check(options), e => e.StartsWith("Omig:Cloud:Network:Backend: 'openflow'", StringComparison.Ordinal));

        options.Cloud.Network.Backend = "Linux";
        options.Cloud.Network.Linux.Prefix = "Bad-Prefix";
        options.Cloud.Network.Linux.Namespaces = "{prefix}-fixed";
        options.Cloud.Network.Linux.Vnis["vpc-a"] = 0;
        var errors = OmigSiloOptionsValidator.Check(options);
        Assert.Contains(errors, e => e.StartsWith("Omig:Cloud:Network:Linux:Prefix", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Omig:Cloud:Network:Linux:Namespaces", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Omig:Cloud:Network:Linux:Vnis:vpc-a", StringComparison.Ordinal));

        Assert.Empty(new OmigSiloOptions().Cloud.Network.Check());
        Assert.Throws<ArgumentException>(() => new LinuxNetworkManagerBackend(new LinuxNetworkOptions { Prefix = "X" }));
    }

    [Fact]
    public void The_linux_network_manager_takes_the_simulated_ones_place_when_registered_first()
    {
        var services = new ServiceCollection();
        services.AddOmigLinuxNetwork(new LinuxNetworkOptions { Prefix = "omv7" });
        services.AddOmigCloudBackends();
        using var provider = services.BuildServiceProvider();
        Assert.IsType<LinuxNetworkManagerBackend>(provider.GetRequiredService<INetworkManagerBackend>());
        Assert.Same(provider.GetRequiredService<LinuxNetworkManagerBackend>(), provider.GetRequiredService<INetworkManagerBackend>());
        Assert.Contains(provider.GetServices<Orleans.IConfigurationValidator>(), v => v is LinuxNetworkStartupCheck);

        using var simulated = new ServiceCollection().AddOmigCloudBackends().BuildServiceProvider();
        Assert.IsType<SimulatedNetworkManagerBackend>(simulated.GetRequiredService<INetworkManagerBackend>());
    }

    [Fact]
    public void Host_ids_map_to_namespaces_by_pattern_or_explicit_entry()
    {
        var options = new LinuxNetworkOptions { Prefix = "oml", Hosts = " h1, h2 ,," };
        Assert.Equal("oml-h1", options.NamespaceOf("h1"));
        Assert.Equal("oml-cl", options.GatewayNamespace);
        Assert.Equal(["h1", "h2"], options.HostList);
        options.HostNamespaces["h2"] = "rack7-h2";
        Assert.Equal("rack7-h2", options.NamespaceOf("h2"));
        Assert.Empty(options.Check());
    }

    [Fact]
    public void Lab_options_are_checked_field_by_field()
    {
        Assert.Empty(new LabTopologyOptions().Check());
        var errors = new LabTopologyOptions { Prefix = "o", Hosts = 0, Underlay = "10.77.0.0/16", Transit = "nonsense", Vni = 0, VmGateway = "::1", GuestTcpPorts = [70000] }.Check();
        foreach (var field in new[] { "prefix", "hosts", "underlay", "transit", "vni", "vm_gateway", "guest ports" })
            Assert.Contains(errors, e => e.StartsWith(field + ":", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => new LabTopology(new LabTopologyOptions { Hosts = 99 }));

        var lab = new LabTopology(new LabTopologyOptions { Prefix = "oml", Hosts = 3 });
        Assert.Equal(["h1", "h2", "h3"], lab.HostIds);
        Assert.Equal("oml-h3", lab.HostNamespace(3));
        Assert.Equal("10.77.0.13", lab.HostUnderlayAddress(3));
        Assert.Equal("10.78.0.12", lab.HostTransitAddress(2));
        Assert.Equal("10.78.0.3", lab.ClientTransitAddress);
        Assert.Equal("vx100", lab.VxlanDevice);
    }

    [Fact]
    public void The_firewall_admits_new_connections_only_to_guest_ports_and_replaces_its_table_atomically()
    {
        var text = LabFirewall.Ruleset("oml", [7008, 9000, 7008], [7007]);
        Assert.StartsWith("table inet oml\ndelete table inet oml\n", text, StringComparison.Ordinal);
        Assert.Contains("policy drop;", text, StringComparison.Ordinal);
        Assert.Contains("ct state established,related accept", text, StringComparison.Ordinal);
        Assert.Contains("ct state new tcp flags & (fin|syn|rst|ack) == syn tcp dport { 7008, 9000 } accept", text, StringComparison.Ordinal);
        Assert.Contains("ct state new udp dport { 7007 } accept", text, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => LabFirewall.Ruleset("x; flush ruleset", [], []));
    }

    [Fact]
    public void Tap_names_are_short_stable_and_per_nic()
    {
        var tap = VmNicAttachment.TapName("vm-42");
        Assert.Equal(11, tap.Length);
        Assert.True(VmNicAttachment.IsTapName(tap));
        Assert.Equal(tap, VmNicAttachment.TapName("vm-42"));
        Assert.NotEqual(tap, VmNicAttachment.TapName("vm-42", 1));
        Assert.False(VmNicAttachment.IsTapName("eth0"));
        Assert.False(VmNicAttachment.IsTapName("t-much-too-long-name"));
    }

    [Fact]
    public void The_latency_recorder_keeps_every_measurement_and_gives_medians()
    {
        var recorder = new LatencyRecorder();
        Assert.Null(recorder.Median("relay.enable"));
        foreach (var ms in new[] { 5, 1, 3, 100 })
            recorder.Record("relay.enable", TimeSpan.FromMilliseconds(ms));
        Assert.Equal(4, recorder.Median("relay.enable"));
        Assert.Equal([5.0, 1, 3, 100], recorder.Snapshot()["relay.enable"]);
        recorder.Clear();
        Assert.Empty(recorder.Snapshot());
    }
}
