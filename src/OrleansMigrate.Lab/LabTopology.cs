using System.Globalization;
using System.Text.Json;
using OrleansMigrate.Hypervisor.Linux;

namespace OrleansMigrate.Lab;

/// <summary>
/// The lab's network on one machine (root): an underlay bridge <c>{prefix}-ul</c> in the root namespace; namespaces for
/// hosts <c>{prefix}-h1..hN</c>, storage <c>{prefix}-st</c> and the client <c>{prefix}-cl</c> (also the VPC's gateway),
/// each joined to the bridge by a veth (root end named as the namespace, inside end <c>ul0</c>); on every host and the
/// client a VXLAN device <c>vx{vni}</c> (dstport 4789, <c>nolearning</c>, local = its underlay address) carrying the
/// transit /24, with static fdb and neighbour entries to every other member; IP forwarding, the VM gateway and the
/// stateful firewall (<see cref="LabFirewall"/>) on the hosts. <see cref="DownAsync"/> removes exactly what was made (and
/// any leftover with the lab's prefix, never anything else), also after a bring-up that failed half way.
/// </summary>
/// <remarks>Not thread-safe: one caller at a time per prefix (the CLI, a test, a benchmark).</remarks>
public sealed class LabTopology
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    private readonly LabTopologyOptions _options;
    private readonly string _underlay;
    private readonly string _transit;

    /// <summary>A lab as <paramref name="options"/> describe it; throws <see cref="ArgumentException"/> naming every bad option.</summary>
    public LabTopology(LabTopologyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Check() is { Count: > 0 } errors)
            throw new ArgumentException("Invalid lab options: " + string.Join("; ", errors), nameof(options));
        _options = options;
        LabTopologyOptions.TryParse24(options.Underlay, out _underlay);
        LabTopologyOptions.TryParse24(options.Transit, out _transit);
    }

    public string Prefix => _options.Prefix;

    /// <summary>The state file: <c>{StateDirectory}/{prefix}.lab.json</c>.</summary>
    public string StateFile => Path.Combine(_options.StateDirectory, $"{Prefix}.lab.json");

    /// <summary>The VPC's VXLAN device name.</summary>
    public string VxlanDevice => LabConventions.VxlanDevice(_options.Vni);

    public string ClientNamespace => LabConventions.ClientNamespace(Prefix);

    public string StorageNamespace => LabConventions.StorageNamespace(Prefix);

    /// <summary>Namespace of host <paramref name="index"/> (1-based).</summary>
    public string HostNamespace(int index) => LabConventions.HostNamespace(Prefix, index);

    /// <summary>The host ids of the lab (<c>h1..hN</c>): with the namespace pattern <c>{prefix}-{host}</c> they name the hosts'
    /// namespaces.</summary>
    public IReadOnlyList<string> HostIds => [.. Enumerable.Range(1, _options.Hosts).Select(i => $"h{i}")];

    /// <summary>Underlay address of host <paramref name="index"/>: <c>.10+index</c>.</summary>
    public string HostUnderlayAddress(int index) => $"{_underlay}.{10 + index}";

    /// <summary>Transit (overlay) address of host <paramref name="index"/>: <c>.10+index</c>.</summary>
    public string HostTransitAddress(int index) => $"{_transit}.{10 + index}";

    /// <summary>The client's (gateway's) transit address: <c>.3</c>.</summary>
    public string ClientTransitAddress => $"{_transit}.3";

    public string RootUnderlayAddress => $"{_underlay}.1";

    /// <summary>Brings the lab up. Refused (<see cref="InvalidOperationException"/>) when its state file exists: bring it
    /// down first. Everything is recorded in the state file before it is made; on a failure what was made stays recorded
    /// for <see cref="DownAsync"/> and the error is thrown.</summary>
    public async Task UpAsync(CancellationToken cancellationToken = default)
    {
        if (File.Exists(StateFile))
            throw new InvalidOperationException($"lab '{Prefix}' is already up (state file {StateFile}); bring it down first");
        Directory.CreateDirectory(_options.StateDirectory);
        var state = new LabState { Prefix = Prefix };
        Save(state);

        var bridge = LabConventions.UnderlayBridge(Prefix);
        RecordRootLink(state, bridge);
        await Ip.RunAsync(null, ["link", "add", bridge, "type", "bridge"], cancellationToken).ConfigureAwait(false);
        await Ip.RunAsync(null, ["addr", "add", $"{RootUnderlayAddress}/24", "dev", bridge], cancellationToken).ConfigureAwait(false);
        await Ip.RunAsync(null, ["link", "set", bridge, "up"], cancellationToken).ConfigureAwait(false);

        // Members: (namespace, underlay octet, in the VPC, is a host).
        var members = new List<(string Ns, int Octet, bool Vpc, bool Host)>();
        if (_options.Storage)
            members.Add((StorageNamespace, 2, false, false));
        members.Add((ClientNamespace, 3, true, false));
        for (var i = 1; i <= _options.Hosts; i++)
            members.Add((HostNamespace(i), 10 + i, true, true));

        foreach (var m in members)
            await AddMemberAsync(state, bridge, m.Ns, m.Octet, m.Host, cancellationToken).ConfigureAwait(false);

        var vpc = members.Where(m => m.Vpc).ToList();
        foreach (var m in vpc)
        {
            var dev = VxlanDevice;
            await Ip.RunAsync(m.Ns, ["link", "add", dev, "type", "vxlan", "id", Str(_options.Vni), "dstport", Str(LabConventions.VxlanPort),
                "local", $"{_underlay}.{m.Octet}", "nolearning"], cancellationToken).ConfigureAwait(false);
            await Ip.RunAsync(m.Ns, ["link", "set", dev, "address", VtepMac(m.Octet), "mtu", "1500"], cancellationToken).ConfigureAwait(false);
            await Ip.RunAsync(m.Ns, ["addr", "add", $"{_transit}.{m.Octet}/24", "dev", dev], cancellationToken).ConfigureAwait(false);
            await HostCommand.RunAsync("sysctl", ["-qw", $"net.ipv4.conf.{dev}.send_redirects=0", $"net.ipv4.conf.{dev}.accept_redirects=0", $"net.ipv4.conf.{dev}.rp_filter=0"],
                m.Ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            await Ip.RunAsync(m.Ns, ["link", "set", dev, "up"], cancellationToken).ConfigureAwait(false);
        }

        foreach (var m in vpc)
        {
            foreach (var peer in vpc.Where(p => p.Ns != m.Ns))
            {
                await HostCommand.RunAsync("bridge", ["fdb", "append", VtepMac(peer.Octet), "dev", VxlanDevice, "dst", $"{_underlay}.{peer.Octet}"], m.Ns,
                    cancellationToken: cancellationToken).ConfigureAwait(false);
                await Ip.RunAsync(m.Ns, ["neigh", "replace", $"{_transit}.{peer.Octet}", "lladdr", VtepMac(peer.Octet), "dev", VxlanDevice, "nud", "permanent"],
                    cancellationToken).ConfigureAwait(false);
            }

            if (m.Host)
            {
                await Ip.RunAsync(m.Ns, ["addr", "add", _options.VmGateway + "/32", "dev", "lo"], cancellationToken).ConfigureAwait(false);
                await Ip.RunAsync(m.Ns, ["rule", "add", "iif", VxlanDevice, "lookup", Str(LabConventions.VmNicTable), "priority", Str(LabConventions.OverlayDeliveryRulePriority)],
                    cancellationToken).ConfigureAwait(false);
                await LabFirewall.ApplyAsync(m.Ns, Prefix, _options.GuestTcpPorts, _options.GuestUdpPorts, cancellationToken).ConfigureAwait(false);
            }
        }

        state.Complete = true;
        Save(state);
    }

    /// <summary>Brings the lab down: stops the recorded processes (by PID, only while they still run in the lab's
    /// namespace), deletes the root links and namespaces it recorded and any other with its prefix, then the state file.
    /// Idempotent; works on a lab that never finished coming up or has no state file.</summary>
    public async Task DownAsync(CancellationToken cancellationToken = default)
    {
        var state = Load();
        var owned = Prefix + "-";

        // Only what carries the prefix, whatever the state file says: a state file is data, not an instruction.
        if (state is not null)
        {
            foreach (var process in state.Processes.Where(p => p.Namespace.StartsWith(owned, StringComparison.Ordinal)))
                await StopAsync(process, cancellationToken).ConfigureAwait(false);
        }

        var links = (state?.RootLinks ?? []).Concat(await Ip.LinkNamesAsync(null, cancellationToken).ConfigureAwait(false))
            .Where(n => n.StartsWith(owned, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).Reverse().ToList();
        foreach (var link in links)
            await Ip.RunIdempotentAsync(null, ["link", "del", link], ["Cannot find device"], cancellationToken).ConfigureAwait(false);

        var namespaces = (state?.Namespaces ?? []).Concat(ExistingNamespaces())
            .Where(n => n.StartsWith(owned, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
        foreach (var ns in namespaces.Where(NetNamespace.Exists))
            await Ip.RunIdempotentAsync(null, ["netns", "del", ns], ["No such file"], cancellationToken).ConfigureAwait(false);

        if (File.Exists(StateFile))
            File.Delete(StateFile);
    }

    /// <summary>The lab as the machine shows it: its namespaces with their addresses, and the recorded processes.</summary>
    public async Task<LabStatus> StatusAsync(CancellationToken cancellationToken = default)
    {
        var state = Load();
        var namespaces = new List<LabNamespaceStatus>();
        foreach (var ns in ExistingNamespaces())
            namespaces.Add(new LabNamespaceStatus(ns, await Ip.AddressesAsync(ns, cancellationToken: cancellationToken).ConfigureAwait(false)));
        var processes = new List<LabProcessStatus>();
        foreach (var process in state?.Processes ?? [])
            processes.Add(new LabProcessStatus(process, await RunsInAsync(process, cancellationToken).ConfigureAwait(false)));
        return new LabStatus(Prefix, state is null ? null : StateFile, state?.Complete ?? false, namespaces, processes);
    }

    /// <summary>Records process <paramref name="pid"/>, started inside the lab's namespace <paramref name="netns"/>, so
    /// <see cref="DownAsync"/> stops it. Refused when the lab has no state file or the namespace is not the lab's.</summary>
    public void RecordProcess(string netns, int pid, string what)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        var state = Load() ?? throw new InvalidOperationException($"lab '{Prefix}' is not up (no state file {StateFile})");
        if (!state.Namespaces.Contains(netns, StringComparer.Ordinal))
            throw new ArgumentException($"'{netns}' is not a namespace of lab '{Prefix}'", nameof(netns));
        state.Processes.Add(new LabProcess(netns, pid, what));
        Save(state);
    }

    /// <summary>The namespaces under <c>/run/netns</c> whose names start with <c>{prefix}-</c>.</summary>
    public IReadOnlyList<string> ExistingNamespaces()
    {
        if (!Directory.Exists(NetNamespace.Directory))
            return [];
        return [.. Directory.EnumerateFiles(NetNamespace.Directory).Select(Path.GetFileName).OfType<string>()
            .Where(n => n.StartsWith(Prefix + "-", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];
    }

    private async Task AddMemberAsync(LabState state, string bridge, string ns, int octet, bool host, CancellationToken cancellationToken)
    {
        state.Namespaces.Add(ns);
        Save(state);
        await Ip.RunAsync(null, ["netns", "add", ns], cancellationToken).ConfigureAwait(false);
        await Ip.RunAsync(ns, ["link", "set", "lo", "up"], cancellationToken).ConfigureAwait(false);

        // Before any device exists, so every device inherits them: no ICMP redirects (a relay sends packets back out of the
        // device they came in by, and a redirect would let the sender bypass it), no reverse-path filter.
        List<string> sysctls = ["net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0",
            "net.ipv4.conf.all.accept_redirects=0", "net.ipv4.conf.default.accept_redirects=0",
            "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"];
        if (host)
            sysctls.Add("net.ipv4.ip_forward=1");
        await HostCommand.RunAsync("sysctl", ["-qw", .. sysctls], ns, cancellationToken: cancellationToken).ConfigureAwait(false);

        var rootEnd = ns; // {prefix}-h{i}, {prefix}-st, {prefix}-cl: the root end carries the namespace's name.
        RecordRootLink(state, rootEnd);
        await Ip.RunAsync(null, ["link", "add", rootEnd, "type", "veth", "peer", "name", "ul0", "netns", ns], cancellationToken).ConfigureAwait(false);
        await Ip.RunAsync(null, ["link", "set", rootEnd, "mtu", "1600", "master", bridge, "up"], cancellationToken).ConfigureAwait(false);
        await Ip.RunAsync(ns, ["link", "set", "ul0", "mtu", "1600", "up"], cancellationToken).ConfigureAwait(false);
        await Ip.RunAsync(ns, ["addr", "add", $"{_underlay}.{octet}/24", "dev", "ul0"], cancellationToken).ConfigureAwait(false);
    }

    private void RecordRootLink(LabState state, string link)
    {
        state.RootLinks.Add(link);
        Save(state);
    }

    private async Task StopAsync(LabProcess process, CancellationToken cancellationToken)
    {
        if (!await RunsInAsync(process, cancellationToken).ConfigureAwait(false))
            return;
        try
        {
            using var running = System.Diagnostics.Process.GetProcessById(process.Pid);
            running.Kill(entireProcessTree: true);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(TimeSpan.FromSeconds(10));
            await running.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (ArgumentException)
        {
            // Gone already.
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }

    /// <summary>Whether the recorded PID still runs inside that namespace (its <c>/proc/PID/ns/net</c> names the inode of the
    /// namespace's file), so a PID the system gave to another process since is never touched.</summary>
    private static async Task<bool> RunsInAsync(LabProcess process, CancellationToken cancellationToken)
    {
        var nsFile = Path.Combine(NetNamespace.Directory, process.Namespace);
        string? link;
        try
        {
            if (!File.Exists(nsFile))
                return false;
            link = new FileInfo($"/proc/{process.Pid}/ns/net").LinkTarget; // "net:[inode]"
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }

        if (link is null)
            return false;
        var inode = await HostCommand.TryRunAsync("stat", ["-L", "-c", "%i", nsFile], cancellationToken: cancellationToken).ConfigureAwait(false);
        return inode.ExitCode == 0 && link == $"net:[{inode.Stdout.Trim()}]";
    }

    private LabState? Load()
    {
        if (!File.Exists(StateFile))
            return null;
        var state = JsonSerializer.Deserialize<LabState>(File.ReadAllText(StateFile), Json)
            ?? throw new InvalidOperationException($"state file {StateFile} is empty");
        if (state.Prefix != Prefix)
            throw new InvalidOperationException($"state file {StateFile} belongs to lab '{state.Prefix}', not '{Prefix}'");
        return state;
    }

    private void Save(LabState state)
    {
        var temporary = StateFile + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(state, Json));
        File.Move(temporary, StateFile, overwrite: true);
    }

    private string VtepMac(int octet) =>
        $"02:77:{(_options.Vni >> 8) & 0xff:x2}:{_options.Vni & 0xff:x2}:00:{octet:x2}";

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);
}
