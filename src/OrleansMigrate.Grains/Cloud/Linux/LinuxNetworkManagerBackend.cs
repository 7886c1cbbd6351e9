using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using OrleansMigrate.Errors;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Lab;

namespace OrleansMigrate.Grains.Cloud.Linux;

/// <summary>
/// The VPC's network manager on real Linux networking (backend <c>linux</c>), over the lab's namespaces and VXLAN
/// overlay (<see cref="LabTopology"/>, routing plan in <see cref="LabConventions"/>):
/// <list type="bullet">
/// <item>a FLOW of an IP is a forwarding entry on every member of the VPC: on the host that runs the VM
/// <c>VMIP/32 dev tap</c> (the tap its NIC attachment recorded in <see cref="LabConventions.VmNicTable"/>), on every
/// other host and on the gateway <c>VMIP/32 via owner's transit address dev vxN</c>;</item>
/// <item>a RELAY is a redirect on the source host: staged, its route <c>VMIP/32 via destination dev vxN</c> sits in
/// <see cref="LabConventions.RelayTable"/>, unused; enabled, one rule <c>to VMIP/32 lookup relay-table</c> (one netlink
/// change) sends every packet still arriving at the source — from the overlay or from its other VMs — to the
/// destination, which delivers overlay traffic for its attached NICs to their taps.</item>
/// </list>
/// Every action is idempotent and measured (<see cref="Latencies"/>: <c>flows.install</c>, <c>relay.stage</c>,
/// <c>relay.enable</c>, <c>relay.disable</c>, <c>relay.remove</c>; and <c>relay.switch</c>, the rule change alone inside an
/// enable or disable, which also reads the staged route to refuse a different relay). Each step runs <c>ip -n NS</c>
/// processes, so a measurement includes their start (a few ms each on a loaded machine). Refusals are <see cref="OmigException"/>; a failing
/// tool is <see cref="OmigException.Unavailable"/> with its message.
/// </summary>
/// <remarks>All VPCs share each namespace's routing tables (no VRF): VPCs on one lab must not overlap in IPs.</remarks>
public sealed class LinuxNetworkManagerBackend : INetworkManagerBackend
{
    private static readonly string RelayTable = LabConventions.RelayTable.ToString(CultureInfo.InvariantCulture);
    private static readonly string RelayPriority = LabConventions.RelayRulePriority.ToString(CultureInfo.InvariantCulture);
    private readonly LinuxNetworkOptions _options;
    private readonly ConcurrentDictionary<(string Ns, string Device), string> _transit = new();
    private readonly SemaphoreSlim _discovery = new(1, 1);
    private readonly ConcurrentDictionary<string, (IReadOnlyList<string> Hosts, long At)> _discovered = new(StringComparer.Ordinal);

    /// <summary>How long a discovered host list is used before the namespaces are read again (a host added to the lab
    /// joins every later install within this); a list that lacks a host a call names is read again at once.</summary>
    public static readonly TimeSpan DiscoveryMaxAge = TimeSpan.FromSeconds(10);

    public LinuxNetworkManagerBackend(LinuxNetworkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Check() is { Count: > 0 } errors)
        {
            throw new ArgumentException("Invalid linux network options: " + string.Join("; ", errors), nameof(options));
        }

        _options = options;
    }

    /// <summary>Every action's measured latency, step → ms.</summary>
    public LatencyRecorder Latencies { get; } = new();

    public Task InstallFlowsAsync(string vpcId, string ip, string hostId, CancellationToken cancellationToken = default) =>
        FlowsAsync(vpcId, ip, hostId, ownerToo: true, "flows.install", cancellationToken);

    /// <summary>The owner's own route is the NIC's attachment (made with its tap, which may not exist yet when the VM is
    /// created); only the other members and the gateway are pointed at the owner here.</summary>
    public Task PlaceFlowsAsync(string vpcId, string ip, string hostId, CancellationToken cancellationToken = default) =>
        FlowsAsync(vpcId, ip, hostId, ownerToo: false, "flows.place", cancellationToken);

    /// <summary>Every other member and the gateway route <paramref name="ip"/> to the owner's transit address; with
    /// <paramref name="ownerToo"/> the owner delivers it to its tap (refused when it has none).</summary>
    private async Task FlowsAsync(string vpcId, string ip, string hostId, bool ownerToo, string step, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var device = Device(vpcId);
        RequireIp(ip);
        var hosts = await HostsAsync(device, cancellationToken, hostId).ConfigureAwait(false);
        var owner = RequireHost(hosts, hostId, "host");
        await GuardAsync(async () =>
        {
            var ownerNs = _options.NamespaceOf(owner);
            string? tap = null;
            if (ownerToo)
            {
                var nic = await Ip.RouteAsync(ownerNs, ip, LabConventions.VmNicTable, cancellationToken).ConfigureAwait(false);
                tap = nic?.Device ?? throw OmigException.Conflict("host",
                    $"host '{owner}' has no NIC attached for '{ip}' (no tap in its table {LabConventions.VmNicTable}): a flow there would deliver nowhere");
            }

            var via = await TransitAddressAsync(ownerNs, device, cancellationToken).ConfigureAwait(false);
            var others = hosts.Where(h => h != owner).Select(_options.NamespaceOf).Append(_options.GatewayNamespace);
            var routes = others.Select(ns => Ip.RunAsync(ns, ["route", "replace", ip + "/32", "via", via, "dev", device], cancellationToken));
            if (tap is not null)
            {
                routes = routes.Append(Ip.RunAsync(ownerNs, ["route", "replace", ip + "/32", "dev", tap], cancellationToken));
            }

            await Task.WhenAll(routes).ConfigureAwait(false);
        }).ConfigureAwait(false);
        Latencies.Record(step, Stopwatch.GetElapsedTime(started));
    }

    public async Task RemoveFlowsAsync(string vpcId, string ip, CancellationToken cancellationToken = default)
    {
        var device = Device(vpcId);
        RequireIp(ip);
        var hosts = await HostsAsync(device, cancellationToken).ConfigureAwait(false);
        await GuardAsync(async () =>
        {
            var members = hosts.Select(_options.NamespaceOf).Append(_options.GatewayNamespace);
            await Task.WhenAll(members.Select(ns => Ip.RunIdempotentAsync(ns, ["route", "del", ip + "/32"], ["No such process"], cancellationToken))).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    public async Task StageRelayAsync(string vpcId, string ip, string fromHost, string toHost, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var device = Device(vpcId);
        RequireIp(ip);
        var hosts = await HostsAsync(device, cancellationToken, fromHost, toHost).ConfigureAwait(false);
        RequireHost(hosts, fromHost, "from_host");
        RequireHost(hosts, toHost, "to_host");
        await GuardAsync(async () =>
        {
            var via = await TransitAddressAsync(_options.NamespaceOf(toHost), device, cancellationToken).ConfigureAwait(false);
            var staged = await Task.WhenAll(hosts.Select(async h => (Host: h, Route: await Ip.RouteAsync(_options.NamespaceOf(h), ip, LabConventions.RelayTable, cancellationToken).ConfigureAwait(false))))
                .ConfigureAwait(false);
            foreach (var (host, route) in staged.Where(s => s.Route is not null))
            {
                if (host != fromHost || route!.Via != via)
                {
                    throw OmigException.Conflict("ip", $"the network manager holds a relay for '{ip}' in VPC '{vpcId}' from '{host}' to {route!.Via}, not from '{fromHost}' to '{toHost}' ({via})");
                }
            }

            if (staged.Any(s => s.Route is not null))
            {
                return;
            }

            await Ip.RunAsync(_options.NamespaceOf(fromHost), ["route", "replace", ip + "/32", "via", via, "dev", device, "table", RelayTable], cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        Latencies.Record("relay.stage", Stopwatch.GetElapsedTime(started));
    }

    public async Task SetRelayEnabledAsync(string vpcId, string ip, string fromHost, string toHost, bool enabled, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var device = Device(vpcId);
        RequireIp(ip);
        var hosts = await HostsAsync(device, cancellationToken, fromHost, toHost).ConfigureAwait(false);
        RequireHost(hosts, fromHost, "from_host");
        RequireHost(hosts, toHost, "to_host");
        await GuardAsync(async () =>
        {
            var fromNs = _options.NamespaceOf(fromHost);
            var via = await TransitAddressAsync(_options.NamespaceOf(toHost), device, cancellationToken).ConfigureAwait(false);
            var staged = await Ip.RouteAsync(fromNs, ip, LabConventions.RelayTable, cancellationToken).ConfigureAwait(false);
            if (staged is not null && staged.Via != via)
            {
                throw OmigException.Conflict("ip", $"the network manager holds a relay for '{ip}' in VPC '{vpcId}' from '{fromHost}' to {staged.Via}, not to '{toHost}' ({via})");
            }

            if (enabled && staged is null)
            {
                // A relay this controller has not seen staged is installed as it is switched on.
                await Ip.RunAsync(fromNs, ["route", "replace", ip + "/32", "via", via, "dev", device, "table", RelayTable], cancellationToken).ConfigureAwait(false);
            }

            // The switch proper: one rule added or deleted (one netlink message), measured on its own as relay.switch.
            var switching = Stopwatch.GetTimestamp();
            await Ip.RunIdempotentAsync(fromNs, ["rule", enabled ? "add" : "del", "to", ip + "/32", "lookup", RelayTable, "priority", RelayPriority],
                [enabled ? "File exists" : "No such file"], cancellationToken).ConfigureAwait(false);
            Latencies.Record("relay.switch", Stopwatch.GetElapsedTime(switching));
        }).ConfigureAwait(false);
        Latencies.Record(enabled ? "relay.enable" : "relay.disable", Stopwatch.GetElapsedTime(started));
    }

    public async Task RemoveRelayAsync(string vpcId, string ip, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var device = Device(vpcId);
        RequireIp(ip);
        var hosts = await HostsAsync(device, cancellationToken).ConfigureAwait(false);
        await GuardAsync(() => Task.WhenAll(hosts.Select(async h =>
        {
            var ns = _options.NamespaceOf(h);
            await Ip.RunIdempotentAsync(ns, ["rule", "del", "to", ip + "/32", "lookup", RelayTable, "priority", RelayPriority], ["No such file"], cancellationToken).ConfigureAwait(false);
            await Ip.RunIdempotentAsync(ns, ["route", "del", ip + "/32", "table", RelayTable], ["No such process", "table does not exist"], cancellationToken).ConfigureAwait(false);
        }))).ConfigureAwait(false);
        Latencies.Record("relay.remove", Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Where each member of the VPC sends <paramref name="ip"/>'s packets, read from the kernel: member namespace →
    /// its main-table route (or null), its staged relay route (or null) and whether its relay rule is on.</summary>
    public async Task<IReadOnlyDictionary<string, LinuxFlowView>> InspectAsync(string vpcId, string ip, CancellationToken cancellationToken = default)
    {
        var device = Device(vpcId);
        RequireIp(ip);
        var hosts = await HostsAsync(device, cancellationToken).ConfigureAwait(false);
        var members = hosts.Select(_options.NamespaceOf).Append(_options.GatewayNamespace).ToList();
        var views = await Task.WhenAll(members.Select(async ns =>
        {
            var main = await Ip.RouteAsync(ns, ip, null, cancellationToken).ConfigureAwait(false);
            var relay = await Ip.RouteAsync(ns, ip, LabConventions.RelayTable, cancellationToken).ConfigureAwait(false);
            var rules = await Ip.RunAsync(ns, ["rule", "show", "priority", RelayPriority], cancellationToken).ConfigureAwait(false);
            var on = rules.Stdout.Split('\n').Any(l => l.Contains($"to {ip} ", StringComparison.Ordinal) || l.TrimEnd().EndsWith($"to {ip}", StringComparison.Ordinal));
            return (ns, new LinuxFlowView(main, relay, on));
        })).ConfigureAwait(false);
        return views.ToDictionary(v => v.ns, v => v.Item2, StringComparer.Ordinal);
    }

    /// <summary>The VPC's hosts: the configured ones, else those discovered (namespaces with the prefix, except the
    /// gateway, that hold the VXLAN device), read again once <see cref="DiscoveryMaxAge"/> old or when they lack one of
    /// <paramref name="named"/> (a host added since).</summary>
    public async Task<IReadOnlyList<string>> HostsAsync(string device, CancellationToken cancellationToken = default, params string[] named)
    {
        if (_options.HostList.Count > 0)
        {
            return _options.HostList;
        }

        bool Fresh(out IReadOnlyList<string> hosts)
        {
            hosts = [];
            if (!_discovered.TryGetValue(device, out var known) || Stopwatch.GetElapsedTime(known.At) > DiscoveryMaxAge)
            {
                return false;
            }

            hosts = known.Hosts;
            return named.All(h => known.Hosts.Contains(h, StringComparer.Ordinal));
        }

        if (Fresh(out var cached))
        {
            return cached;
        }

        await _discovery.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Fresh(out cached))
            {
                return cached; // read by the call that held the lock before this one
            }

            var prefix = _options.NamespaceOf("\0");
            var split = prefix.IndexOf('\0', StringComparison.Ordinal);
            var (head, tail) = (prefix[..split], prefix[(split + 1)..]);
            var found = new List<string>();
            var names = Directory.Exists(NetNamespace.Directory) ? Directory.EnumerateFiles(NetNamespace.Directory).Select(Path.GetFileName).OfType<string>() : [];
            foreach (var ns in names.Where(n => n.StartsWith(head, StringComparison.Ordinal) && n.EndsWith(tail, StringComparison.Ordinal)
                && n.Length > head.Length + tail.Length && n != _options.GatewayNamespace).Order(StringComparer.Ordinal))
            {
                if (await Ip.LinkExistsAsync(ns, device, cancellationToken).ConfigureAwait(false))
                {
                    found.Add(ns[head.Length..^tail.Length]);
                }
            }

            if (found.Count == 0)
            {
                _discovered.TryRemove(device, out _);
                throw OmigException.Unavailable("host", $"no namespace '{_options.Namespaces.Replace("{prefix}", _options.Prefix, StringComparison.Ordinal)}' holds the VXLAN device {device}: is the lab up?");
            }

            _discovered[device] = (found, Stopwatch.GetTimestamp());
            return found;
        }
        finally
        {
            _discovery.Release();
        }
    }

    private string Device(string vpcId)
    {
        if (string.IsNullOrWhiteSpace(vpcId))
        {
            throw OmigException.Invalid("vpc_id", "required");
        }

        if (_options.Vnis.Count == 0)
        {
            return LabConventions.VxlanDevice(_options.DefaultVni);
        }

        return _options.Vnis.TryGetValue(vpcId, out var vni)
            ? LabConventions.VxlanDevice(vni)
            : throw OmigException.NotFound("vpc_id", $"VPC '{vpcId}' has no VXLAN network (Omig:Cloud:Network:Linux:Vnis)");
    }

    private async Task<string> TransitAddressAsync(string ns, string device, CancellationToken cancellationToken)
    {
        if (_transit.TryGetValue((ns, device), out var known))
        {
            return known;
        }

        var addresses = await Ip.AddressesAsync(ns, device, cancellationToken).ConfigureAwait(false);
        if (addresses.Count == 0)
        {
            throw OmigException.Unavailable("host", $"namespace '{ns}' has no IPv4 address on {device}");
        }

        var address = addresses[0].Split(' ')[1].Split('/')[0];
        _transit[(ns, device)] = address;
        return address;
    }

    private static void RequireIp(string ip)
    {
        if (!IPAddress.TryParse(ip, out var parsed) || parsed.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || parsed.ToString() != ip)
        {
            throw OmigException.Invalid("ip", $"'{ip}' is not an IPv4 address");
        }
    }

    private static string RequireHost(IReadOnlyList<string> hosts, string hostId, string field) =>
        hosts.Contains(hostId, StringComparer.Ordinal)
            ? hostId
            : throw OmigException.NotFound(field, $"host '{hostId}' is not in the VPC (hosts: {string.Join(", ", hosts)})");

    private static async Task GuardAsync(Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (HostCommandException ex)
        {
            throw OmigException.Unavailable(null, $"the linux network manager failed: {ex.Message}");
        }
    }
}

/// <summary>One VPC member's forwarding of an IP, as read from its kernel.</summary>
/// <param name="Route">The main-table route for the /32 (a flow), or null.</param>
/// <param name="StagedRelay">The relay table's route for the /32, or null.</param>
/// <param name="RelayEnabled">Whether the relay rule for the /32 is present.</param>
public sealed record LinuxFlowView(IpRoute? Route, IpRoute? StagedRelay, bool RelayEnabled);
