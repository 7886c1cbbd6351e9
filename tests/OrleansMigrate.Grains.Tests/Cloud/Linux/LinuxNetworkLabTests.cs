using System.Diagnostics;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Cloud.Linux;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Lab;
using OrleansMigrate.Tests.Shared;
using Xunit.Abstractions;

namespace OrleansMigrate.Grains.Tests.Cloud.Linux;

/// <summary>The lab topology, the routed VM attachment, the linux network manager and the hosts' firewall on real
/// namespaces, VXLAN, routes, nftables and conntrack. Each test has its own prefix omv1..omv8 (omv7 is the options tests' name of an absent lab).</summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class LinuxNetworkLabTests(ITestOutputHelper output)
{
    private const string Vpc = "vpc-lab";
    private const string Ip = LabNetworkHarness.VmIp;

    private static LinuxNetworkManagerBackend Backend(LabNetworkHarness lab) =>
        new(new LinuxNetworkOptions { Prefix = lab.Prefix });

    [Fact]
    public async Task Lab_up_and_down_twice_leaves_nothing_behind_and_stops_recorded_processes()
    {
        await using var lab = await LabNetworkHarness.CreateAsync(1, storage: true);
        for (var round = 0; round < 2; round++)
        {
            await lab.Topology.UpAsync();
            var status = await lab.Topology.StatusAsync();
            Assert.True(status.Complete);
            Assert.Equal(["omv1-cl", "omv1-h1", "omv1-h2", "omv1-st"], status.Namespaces.Select(n => n.Name));
            Assert.Contains("ul0 10.77.201.11/24", status.Namespaces.Single(n => n.Name == "omv1-h1").Addresses);
            Assert.Contains("vx100 10.78.0.12/24", status.Namespaces.Single(n => n.Name == "omv1-h2").Addresses);
            Assert.Contains("vx100 10.78.0.3/24", status.Namespaces.Single(n => n.Name == "omv1-cl").Addresses);
            Assert.Contains("ul0 10.77.201.2/24", status.Namespaces.Single(n => n.Name == "omv1-st").Addresses);

            using var sleeper = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", "omv1-h1", "sleep", "60"]))!;
            await Eventually.TrueAsync(async () => (await File.ReadAllTextAsync($"/proc/{sleeper.Id}/comm")).Trim() == "sleep", TimeSpan.FromSeconds(10), "sleep to start in omv1-h1");
            lab.Topology.RecordProcess("omv1-h1", sleeper.Id, "sleep");
            Assert.True((await lab.Topology.StatusAsync()).Processes.Single().Running);
            Assert.Throws<ArgumentException>(() => lab.Topology.RecordProcess("omx-other", sleeper.Id, "not ours"));

            await lab.Topology.DownAsync();
            Assert.True(sleeper.WaitForExit(TimeSpan.FromSeconds(10)));
            Assert.Empty(await lab.LeftoversAsync());
            Assert.False(File.Exists(lab.Topology.StateFile));
            await lab.Topology.DownAsync(); // idempotent
        }
    }

    [Fact]
    public async Task Down_of_a_half_created_lab_removes_what_it_made()
    {
        await using var lab = await LabNetworkHarness.CreateAsync(2);

        // A link already named as host 2's root end makes the bring-up fail half way (after the bridge, client and host 1).
        await OrleansMigrate.Lab.Ip.RunAsync(null, ["link", "add", "omv2-h2", "type", "bridge"]);
        var failure = await Assert.ThrowsAsync<HostCommandException>(() => lab.Topology.UpAsync());
        output.WriteLine(failure.Message);
        Assert.False((await lab.Topology.StatusAsync()).Complete);
        Assert.Contains("netns omv2-h1", await lab.LeftoversAsync());

        await lab.Topology.DownAsync();
        Assert.Empty(await lab.LeftoversAsync());
    }

    [Fact]
    public async Task Flows_deliver_over_the_overlay_and_an_enabled_relay_on_the_source_forwards_to_the_destination()
    {
        await using var lab = await LabNetworkHarness.CreateAsync(3);
        await lab.UpWithVmAsync();
        var network = Backend(lab);

        // The client (the VPC gateway) reaches the VM on host 1 over the VXLAN overlay once its flows are installed.
        await network.InstallFlowsAsync(Vpc, Ip, "h1");
        Assert.True(await lab.UdpReachesVmAsync());
        var view = await network.InspectAsync(Vpc, Ip);
        Assert.Equal("10.78.0.11", view["omv3-cl"].Route!.Via);
        Assert.Equal(lab.Tap, view["omv3-h1"].Route!.Device);

        // The VM moves to host 2; the gateway's flow still points at host 1, which has nowhere to send it: lost.
        await lab.MoveVmAsync(1, 2);
        Assert.False(await lab.UdpReachesVmAsync(attempts: 2));

        // A staged relay does not forward yet; enabled, host 1 forwards to host 2 and the VM answers; disabled, lost again.
        await network.StageRelayAsync(Vpc, Ip, "h1", "h2");
        await network.StageRelayAsync(Vpc, Ip, "h1", "h2"); // idempotent
        Assert.False(await lab.UdpReachesVmAsync(attempts: 2));
        await network.SetRelayEnabledAsync(Vpc, Ip, "h1", "h2", enabled: true);
        await network.SetRelayEnabledAsync(Vpc, Ip, "h1", "h2", enabled: true); // idempotent
        Assert.True(await lab.UdpReachesVmAsync());
        Assert.True((await network.InspectAsync(Vpc, Ip))["omv3-h1"].RelayEnabled);
        await network.SetRelayEnabledAsync(Vpc, Ip, "h1", "h2", enabled: false);
        Assert.False(await lab.UdpReachesVmAsync(attempts: 2));

        // A different relay for the IP is refused and changes nothing.
        var refused = await Assert.ThrowsAsync<OmigException>(() => network.StageRelayAsync(Vpc, Ip, "h2", "h1"));
        Assert.Equal(OmigErrorCode.Conflict, refused.Code);
        Assert.Null((await network.InspectAsync(Vpc, Ip))["omv3-h2"].StagedRelay);

        // Relay on, flows installed on host 2 (the gateway now goes there directly), relay removed: still delivered.
        await network.SetRelayEnabledAsync(Vpc, Ip, "h1", "h2", enabled: true);
        await network.InstallFlowsAsync(Vpc, Ip, "h2");
        await network.RemoveRelayAsync(Vpc, Ip);
        await network.RemoveRelayAsync(Vpc, Ip); // idempotent
        Assert.True(await lab.UdpReachesVmAsync());
        view = await network.InspectAsync(Vpc, Ip);
        Assert.Equal("10.78.0.12", view["omv3-cl"].Route!.Via);
        Assert.Equal("10.78.0.12", view["omv3-h1"].Route!.Via);
        Assert.All(view.Values, v => Assert.False(v.RelayEnabled));
        Assert.All(view.Values, v => Assert.Null(v.StagedRelay));

        // Bad input is refused by field.
        Assert.Equal("ip", (await Assert.ThrowsAsync<OmigException>(() => network.InstallFlowsAsync(Vpc, "300.1.1.1", "h1"))).Field);
        Assert.Equal("host", (await Assert.ThrowsAsync<OmigException>(() => network.InstallFlowsAsync(Vpc, Ip, "h9"))).Field);
    }

    [Fact]
    public async Task The_firewall_passes_new_connections_to_guest_ports_only_and_a_stream_dies_on_a_host_without_its_conntrack_entry()
    {
        await using var lab = await LabNetworkHarness.CreateAsync(4);
        await lab.UpWithVmAsync();
        var network = Backend(lab);
        await network.InstallFlowsAsync(Vpc, Ip, "h1");

        // A new connection to the listening guest port passes and streams; one to another (listening) port is dropped.
        using var stream = await lab.ConnectAsync(LabConventions.GuestTcpStreamPort);
        Assert.NotNull(stream);
        var droppedBefore = await LabFirewall.DroppedPacketsAsync("omv4-h1", "omv4");
        using var other = await lab.ConnectAsync(7009);
        Assert.Null(other);
        Assert.True(await LabFirewall.DroppedPacketsAsync("omv4-h1", "omv4") > droppedBefore);
        Assert.True(await lab.UdpReachesVmAsync());

        // The established stream continues.
        for (var i = 0; i < 5; i++)
            Assert.True(await LabNetworkHarness.EchoesAsync(stream!, $"record {i};", TimeSpan.FromSeconds(10)));

        // A second stream whose conntrack entry is copied to host 2 before the move (the control: what a session copy does).
        using var copied = await lab.ConnectAsync(LabConventions.GuestTcpStreamPort);
        Assert.NotNull(copied);
        Assert.True(await LabNetworkHarness.EchoesAsync(copied!, "copied;", TimeSpan.FromSeconds(10)));
        var port = ((System.Net.IPEndPoint)copied!.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var entry = await HostCommand.RunAsync("conntrack", ["-L", "-p", "tcp", "--dport", "7008", "--sport", port], "omv4-h1");
        Assert.Contains("ESTABLISHED", entry.Stdout);
        await HostCommand.RunAsync("conntrack", ["-I", "-p", "tcp", "-s", "10.78.0.3", "-d", Ip, "--sport", port, "--dport", "7008",
            "--state", "ESTABLISHED", "-u", "ASSURED,SEEN_REPLY", "-t", "120"], "omv4-h2");

        // The VM moves to host 2: host 2 sees the first stream's mid-stream packets with no entry, which with
        // nf_conntrack_tcp_loose=0 are not a new connection, and drops them: that stream is dead although routing delivers
        // (a new UDP flow reaches the VM there, and the stream whose entry was copied goes on).
        await lab.MoveVmAsync(1, 2);
        await network.InstallFlowsAsync(Vpc, Ip, "h2");
        Assert.True(await lab.UdpReachesVmAsync());
        Assert.True(await LabNetworkHarness.EchoesAsync(copied, "copied, after the move;", TimeSpan.FromSeconds(10)));
        var droppedOnH2 = await LabFirewall.DroppedPacketsAsync("omv4-h2", "omv4");
        Assert.False(await LabNetworkHarness.EchoesAsync(stream!, "after the move;", TimeSpan.FromSeconds(3)));
        Assert.True(await LabFirewall.DroppedPacketsAsync("omv4-h2", "omv4") > droppedOnH2);

        // A new connection on host 2 is fine.
        using var fresh = await lab.ConnectAsync(LabConventions.GuestTcpStreamPort);
        Assert.NotNull(fresh);
        Assert.True(await LabNetworkHarness.EchoesAsync(fresh!, "new;", TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_new_NIC_s_flows_are_placed_on_the_other_members_before_its_tap_exists_and_removed_with_it()
    {
        await using var lab = await LabNetworkHarness.CreateAsync(8);
        await lab.Topology.UpAsync();
        var network = Backend(lab);

        // Placed at the VM's creation, before its host has a tap for it: the others route it to h1 over the overlay.
        await network.PlaceFlowsAsync(Vpc, Ip, "h1");
        foreach (var ns in new[] { lab.Topology.HostNamespace(2), lab.Topology.ClientNamespace })
        {
            var route = await OrleansMigrate.Lab.Ip.RouteAsync(ns, Ip);
            Assert.Equal(lab.Topology.VxlanDevice, route?.Device);
            Assert.Equal(lab.Topology.HostTransitAddress(1), route?.Via);
        }

        Assert.Null(await OrleansMigrate.Lab.Ip.RouteAsync(lab.Topology.HostNamespace(1), Ip));

        // A full install still needs the owner's NIC.
        var refused = await Assert.ThrowsAsync<OmigException>(() => network.InstallFlowsAsync(Vpc, Ip, "h1"));
        Assert.Equal(OmigErrorCode.Conflict, refused.Code);

        await network.RemoveFlowsAsync(Vpc, Ip);
        await network.RemoveFlowsAsync(Vpc, Ip);
        foreach (var ns in new[] { lab.Topology.HostNamespace(1), lab.Topology.HostNamespace(2), lab.Topology.ClientNamespace })
        {
            Assert.Null(await OrleansMigrate.Lab.Ip.RouteAsync(ns, Ip));
        }

        Assert.Single(network.Latencies.Snapshot()["flows.place"]);
    }

    [Fact]
    public async Task Latencies_of_flow_install_and_relay_steps_are_measured()
    {
        const int Rounds = 20;
        await using var lab = await LabNetworkHarness.CreateAsync(5);
        await lab.UpWithVmAsync();

        // The destination's own NIC, a real tap as a migration's prepare makes it.
        await VmNicAttachment.AttachAsync("omv5-h2", VmNicAttachment.TapName("omv5-vm-dest"), Ip);
        var network = Backend(lab);
        for (var i = 0; i < Rounds; i++)
        {
            await network.InstallFlowsAsync(Vpc, Ip, i % 2 == 0 ? "h1" : "h2");
            await network.StageRelayAsync(Vpc, Ip, "h1", "h2");
            await network.SetRelayEnabledAsync(Vpc, Ip, "h1", "h2", enabled: true);
            await network.SetRelayEnabledAsync(Vpc, Ip, "h1", "h2", enabled: false);
            await network.RemoveRelayAsync(Vpc, Ip);
        }

        var latencies = network.Latencies.Snapshot();
        foreach (var step in new[] { "flows.install", "relay.stage", "relay.enable", "relay.disable", "relay.remove", "relay.switch" })
        {
            Assert.Equal(step == "relay.switch" ? 2 * Rounds : Rounds, latencies[step].Count);
            output.WriteLine($"{step}: median {network.Latencies.Median(step):0.0} ms over {latencies[step].Count} (min {latencies[step].Min():0.0}, max {latencies[step].Max():0.0})");
        }

        await VmNicAttachment.DetachAsync("omv5-h2", VmNicAttachment.TapName("omv5-vm-dest"));
        Assert.False(await OrleansMigrate.Lab.Ip.LinkExistsAsync("omv5-h2", VmNicAttachment.TapName("omv5-vm-dest")));
    }

    [Fact]
    public async Task The_start_up_check_names_what_the_machine_lacks()
    {
        var options = new LinuxNetworkOptions { Prefix = "omv6", Hosts = "h1" };
        var errors = options.CheckMachine();
        Assert.Contains(errors, e => e.Contains("'omv6-cl' does not exist", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'omv6-h1' does not exist", StringComparison.Ordinal));
        var check = Assert.Throws<Orleans.Runtime.OrleansConfigurationException>(() => new LinuxNetworkStartupCheck(options).ValidateConfiguration());
        Assert.Contains("Omig:Cloud:Network:Linux:Gateway", check.Message);
        Assert.Contains("Omig:Cloud:Network:Linux:Prefix", Assert.Single(new LinuxNetworkOptions { Prefix = "X" }.Check()));
        await Task.CompletedTask;
    }
}
