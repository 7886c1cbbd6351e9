using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Cloud.Nbd;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Lab;
using Spectre.Console;

namespace OrleansMigrate.Cli.Lab;

/// <summary>
/// <c>omig lab up|down|status</c> (the <c>omig-lab</c> program): the real-Linux lab on this machine. <c>up</c> makes a
/// network namespace per hypervisor host with an underlay address, a storage namespace running <c>qemu-storage-daemon</c>
/// (the <c>nbd</c> cloud-disk backend's store), a client namespace that is also the VPC's gateway, the VPC's VXLAN overlay
/// and each host's stateful firewall; everything it makes carries the lab's prefix and is recorded in its state file, so
/// <c>down</c> removes exactly that (also a lab that failed half way). <c>status</c> shows what the machine has.
/// </summary>
public static class LabCommand
{
    /// <summary>The NBD server's port in the storage namespace.</summary>
    public const int NbdPort = LabStorage.NbdPort;

    /// <summary>Programs the lab runs; a missing one is named before anything is made.</summary>
    private static readonly string[] Tools = ["ip", "bridge", "sysctl", "nft", "conntrack", QemuStorageDaemon.Binary];

    public static RootCommand Build()
    {
        var root = new RootCommand("omig lab (omig-lab): the real-Linux lab on this machine: hosts in network namespaces, a VXLAN VPC with stateful firewalls, NBD cloud disks");
        root.Subcommands.Add(Up());
        root.Subcommands.Add(Down());
        root.Subcommands.Add(Status());
        GlobalOptions.AddTo(root);
        OmigCommandLine.AddExitCodesToHelp(root);
        return root;
    }

    private static Option<string> PrefixOption() =>
        new("--prefix") { Description = "Name prefix of everything the lab makes (2-8 lower-case letters and digits)", DefaultValueFactory = _ => LabConventions.DefaultPrefix };

    private static Option<string> DirOption() =>
        new("--dir") { Description = "Directory of the lab's state file and the storage daemon's images", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "omig-lab") };

    private static Command Up()
    {
        var hosts = new Option<int>("--hosts") { Description = $"Hypervisor host namespaces (1-{LabTopologyOptions.MaxHosts})", DefaultValueFactory = _ => 2 };
        var subnet = new Option<string>("--vpc-subnet") { Description = "The VMs' subnet; its first address is their gateway", DefaultValueFactory = _ => "172.30.0.0/24" };
        var underlay = new Option<string>("--underlay") { Description = "The hosts' underlay /24 (root .1, storage .2, client .3, host i .10+i)", DefaultValueFactory = _ => "10.77.0.0/24" };
        var noStorage = new Option<bool>("--no-storage") { Description = "No storage namespace and no storage daemon" };
        var prefix = PrefixOption();
        var dir = DirOption();
        var cmd = new Command("up", "Make the lab (refused when one with this prefix is up; a lab that fails half way is removed)") { hosts, subnet, underlay, noStorage, prefix, dir };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var options = new LabTopologyOptions
            {
                Prefix = parse.GetValue(prefix)!,
                Hosts = parse.GetValue(hosts),
                Underlay = parse.GetValue(underlay)!,
                VmGateway = GatewayOf(parse.GetValue(subnet)!),
                Storage = !parse.GetValue(noStorage),
                StateDirectory = Path.GetFullPath(parse.GetValue(dir)!),
            };
            if (options.Check() is [var first, ..])
                throw OmigException.Invalid("--" + first.Split(':')[0].Replace('_', '-'), first[(first.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim());
            await CheckMachineAsync(options.Prefix, ct);

            var lab = new LabTopology(options);
            if (File.Exists(lab.StateFile) || lab.ExistingNamespaces().Count > 0)
                throw OmigException.Conflict("--prefix", $"lab '{options.Prefix}' is already up (or left behind): omig lab down --prefix {options.Prefix} --dir {options.StateDirectory}");

            var started = System.Diagnostics.Stopwatch.StartNew();
            string? storage = null;
            try
            {
                await lab.UpAsync(ct);
                if (options.Storage)
                    storage = await LabStorage.StartAsync(lab, options, ct);
            }
            catch (Exception ex)
            {
                // Nothing half made stays behind, whether it failed or was interrupted.
                await lab.DownAsync(CancellationToken.None);
                LabStorage.Delete(options);
                if (ex is OperationCanceledException)
                    throw;
                throw new OmigException(OmigErrorCode.Unavailable, null, $"lab '{options.Prefix}' did not come up and was removed again: {ex.GetBaseException().Message}");
            }

            var status = await lab.StatusAsync(ct);
            var config = SiloConfiguration(lab, options, storage);
            CommandRunner.Print(parse, new { prefix = options.Prefix, up_ms = started.ElapsedMilliseconds, state_file = lab.StateFile, storage, silo_configuration = config, status = Json(status) },
                _ => StatusTable(status, config));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Down()
    {
        var prefix = PrefixOption();
        var dir = DirOption();
        var cmd = new Command("down", "Remove the lab: its recorded processes (by PID), links and namespaces, and nothing without its prefix; idempotent") { prefix, dir };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var (lab, options) = Existing(parse, prefix, dir);
            var before = await lab.StatusAsync(ct);
            await lab.DownAsync(ct);
            LabStorage.Delete(options);
            var after = lab.ExistingNamespaces();
            if (after.Count > 0)
                throw new OmigException(OmigErrorCode.Unavailable, null, $"lab '{options.Prefix}': {string.Join(", ", after)} could not be removed");
            CommandRunner.Print(parse, new { prefix = options.Prefix, removed_namespaces = before.Namespaces.Select(n => n.Name), stopped_processes = before.Processes.Where(p => p.Running).Select(p => p.Process.Pid) },
                r => new Markup($"lab '{Markup.Escape(options.Prefix)}' is down: {r.removed_namespaces.Count()} namespace(s) removed, {r.stopped_processes.Count()} process(es) stopped\n"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Status()
    {
        var prefix = PrefixOption();
        var dir = DirOption();
        var cmd = new Command("status", "The lab's namespaces with their addresses and its recorded processes (exit 3 when it is not up)") { prefix, dir };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var (lab, options) = Existing(parse, prefix, dir);
            var status = await lab.StatusAsync(ct);
            if (status.StateFile is null && status.Namespaces.Count == 0)
                throw OmigException.NotFound("lab", $"lab '{options.Prefix}' is not up (no state file in {options.StateDirectory}, no namespace {options.Prefix}-*)");
            CommandRunner.Print(parse, Json(status), _ => StatusTable(status, new Dictionary<string, string>()));
            return status.Complete ? ExitCodes.Ok : ExitCodes.NotCompleted;
        });
        return cmd;
    }

    /// <summary>The lab named by <c>--prefix</c> and <c>--dir</c>, for <c>down</c> and <c>status</c>: the prefix checked, root required.</summary>
    private static (LabTopology Lab, LabTopologyOptions Options) Existing(ParseResult parse, Option<string> prefix, Option<string> dir)
    {
        var options = new LabTopologyOptions { Prefix = parse.GetValue(prefix)!, StateDirectory = Path.GetFullPath(parse.GetValue(dir)!) };
        if (!LabConventions.IsValidPrefix(options.Prefix))
            throw OmigException.Invalid("--prefix", $"'{options.Prefix}' must be 2-8 characters, a lower-case letter then lower-case letters and digits");
        RequireRoot();
        return (new LabTopology(options), options);
    }

    /// <summary>The VMs' gateway: the first address of <paramref name="subnet"/> (an IPv4 network of /8 to /30).</summary>
    public static string GatewayOf(string subnet)
    {
        var slash = subnet.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(subnet[..slash], out var network) || network.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(subnet[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var bits) || bits is < 8 or > 30)
            throw OmigException.Invalid("--vpc-subnet", $"'{subnet}' is not an IPv4 network such as 172.30.0.0/24 (/8 to /30)");
        var value = (uint)IPAddress.NetworkToHostOrder(BitConverter.ToInt32(network.GetAddressBytes()));
        var mask = bits == 0 ? 0u : uint.MaxValue << (32 - bits);
        if ((value & ~mask) != 0)
            throw OmigException.Invalid("--vpc-subnet", $"'{subnet}' has host bits set; the network is {new IPAddress(BitConverter.GetBytes(IPAddress.HostToNetworkOrder((int)(value & mask))))}/{bits}");
        return new IPAddress(BitConverter.GetBytes(IPAddress.HostToNetworkOrder((int)(value + 1)))).ToString();
    }

    /// <summary>Root, the lab's programs, QEMU, and network-namespace rights — one line naming what is missing, before
    /// anything is made. The accelerator is said, not required: without a usable KVM the guests run under TCG.</summary>
    private static async Task CheckMachineAsync(string prefix, CancellationToken ct)
    {
        RequireRoot();
        if (Tools.Where(t => !HostCommand.IsInstalled(t)).ToList() is { Count: > 0 } missing)
            throw new OmigException(OmigErrorCode.Unavailable, null, $"the lab needs {string.Join(", ", missing)} (apt-get install iproute2 procps nftables conntrack qemu-system-x86); nothing was made");
        if (!HostCommand.IsInstalled("qemu-system-x86_64"))
            throw new OmigException(OmigErrorCode.Unavailable, null, "the lab's hosts run QEMU: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86); nothing was made");
        var probe = $"{prefix}-probe";
        var made = await HostCommand.TryRunAsync("ip", ["netns", "add", probe], cancellationToken: ct);
        if (made.ExitCode != 0)
            throw new OmigException(OmigErrorCode.Unavailable, null, $"this machine does not let us create network namespaces ({made.Stderr}); nothing was made");
        await HostCommand.TryRunAsync("ip", ["netns", "del", probe], cancellationToken: ct);
    }

    private static void RequireRoot()
    {
        if (!Environment.IsPrivilegedProcess)
            throw new OmigException(OmigErrorCode.Unavailable, null, "the lab needs root (network namespaces, nftables, conntrack); nothing was made");
    }

    /// <summary>How silos use this lab, as configuration keys (environment: replace ':' by '__').</summary>
    private static Dictionary<string, string> SiloConfiguration(LabTopology lab, LabTopologyOptions options, string? storage)
    {
        var config = LabStorage.SiloConfiguration(options, storage is not null, hostSilo: false);
        foreach (var (key, value) in LabStorage.SiloConfiguration(options, storage is not null, hostSilo: true))
            config[key] = value + "  (host silos, each started inside its namespace: ip netns exec " + lab.HostNamespace(1) + " …)";
        config["Omig:AdvertisedAddress"] = $"host i: {lab.HostUnderlayAddress(1)}…{lab.HostUnderlayAddress(options.Hosts)}; control: {lab.RootUnderlayAddress}";
        return config;
    }

    private static object Json(LabStatus status) => new
    {
        prefix = status.Prefix,
        state_file = status.StateFile,
        complete = status.Complete,
        namespaces = status.Namespaces.Select(n => new { name = n.Name, addresses = n.Addresses }),
        processes = status.Processes.Select(p => new { pid = p.Process.Pid, @namespace = p.Process.Namespace, what = p.Process.What, running = p.Running }),
    };

    private static Spectre.Console.Rendering.IRenderable StatusTable(LabStatus status, IReadOnlyDictionary<string, string> config)
    {
        var namespaces = new Table().AddColumns("namespace", "addresses");
        foreach (var ns in status.Namespaces)
            namespaces.AddRow(new Text(ns.Name), new Text(string.Join(", ", ns.Addresses)));
        var rows = new List<Spectre.Console.Rendering.IRenderable>
        {
            new Markup($"lab [bold]{Markup.Escape(status.Prefix)}[/]: {(status.Complete ? "up" : "[yellow]incomplete[/] (omig lab down removes it)")}; state {Markup.Escape(status.StateFile ?? "none")}\n"),
            namespaces,
        };
        if (status.Processes.Count > 0)
        {
            var processes = new Table().AddColumns("pid", "namespace", "process", "running");
            foreach (var p in status.Processes)
                processes.AddRow(new Text(p.Process.Pid.ToString(CultureInfo.InvariantCulture)), new Text(p.Process.Namespace), new Text(p.Process.What), new Markup(p.Running ? "yes" : "[red]no[/]"));
            rows.Add(processes);
        }

        if (config.Count > 0)
        {
            var keys = new Table().AddColumns("silo configuration", "value");
            foreach (var (key, value) in config)
                keys.AddRow(new Text(key), new Text(value));
            rows.Add(keys);
        }

        return new Rows(rows);
    }
}
