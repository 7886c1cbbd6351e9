using System.CommandLine;
using System.Globalization;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Client.Parsing;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Operations;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

/// <summary><c>omig power plan|apply|show|ensure</c> and <c>omig host power HOST on|off</c>.</summary>
public static class PowerCommands
{
    public static Command Build()
    {
        var power = new Command("power", "Consolidate VMs so whole hosts can be powered off, keeping a headroom free in every failure domain");
        var headroom = new Option<int>("--headroom") { Description = "Percent of cores and memory kept free in every failure domain (0-90)", DefaultValueFactory = _ => 20 };
        var only = new Option<string?>("--domain") { Description = "Plan this failure domain only (the value of the domain label, e.g. r07)" };
        var plan = new Command("plan", "Compute and store a power plan (nothing moves): the hosts to empty and power off, against the most any plan could free") { headroom, only };
        plan.SetClientAction(async (parse, client, _) =>
        {
            var status = await client.PlanPowerAsync(parse.GetValue(headroom), parse.GetValue(only));
            CommandRunner.Print(parse, status, RenderPlan);
            return ExitCodes.Ok;
        });
        power.Subcommands.Add(plan);

        var wait = new Option<bool>("--wait") { Description = "Follow until every host of the plan is off or failed (exit 0 when all are off)" };
        var apply = new Command("apply", "Apply the stored power plan: drain its hosts inside their failure domains and power them off") { wait };
        apply.SetClientAction(async (parse, client, ct) =>
        {
            var status = await client.ApplyPowerPlanAsync();
            if (parse.GetValue(wait))
            {
                while (!status.IsEnded)
                {
                    await Task.Delay(500, ct);
                    status = (await client.GetPowerAsync()).Plan ?? status;
                    if (!GlobalOptions.JsonToConsole(parse))
                    {
                        Console.Error.WriteLine($"{status.PlanId}: {status.Hosts.Count(h => h.State == PowerHostState.Off)}/{status.Hosts.Length} hosts off, "
                            + $"{status.Hosts.Count(h => h.State == PowerHostState.Draining)} draining, {status.Hosts.Count(h => h.State == PowerHostState.Failed)} failed");
                    }
                }
            }

            CommandRunner.Print(parse, status, RenderPlan);
            return !parse.GetValue(wait) || status.State == PowerPlanState.Completed ? ExitCodes.Ok : ExitCodes.NotCompleted;
        });
        power.Subcommands.Add(apply);

        var show = new Command("show", "Each failure domain's capacity and free share, the hosts off, the last plan and recent power changes");
        show.SetClientAction(async (parse, client, _) =>
        {
            CommandRunner.Print(parse, await client.GetPowerAsync(), RenderStatus);
            return ExitCodes.Ok;
        });
        power.Subcommands.Add(show);

        var vcpus = new Option<int>("--vcpus") { Description = "vCPUs the VM needs (1-4096)", Required = true };
        var memory = new Option<string>("--memory") { Description = "Memory the VM needs: MiB or with unit, e.g. 8G", Required = true };
        var features = new Option<string>("--cpu-features") { Description = "Comma-separated CPU flags the VM needs", DefaultValueFactory = _ => "" };
        var domain = new Option<string?>("--domain") { Description = "Only hosts of this failure domain" };
        var ensure = new Command("ensure", "Before a create: power on the cheapest powered-off host with room when no powered-on host has it") { vcpus, memory, features, domain };
        ensure.SetClientAction(async (parse, client, _) =>
        {
            var host = await client.EnsureRoomAsync(parse.GetValue(vcpus), CliParsers.ParseMemoryMiB("--memory", parse.GetValue(memory)!),
                CliParsers.ParseList(parse.GetValue(features)), parse.GetValue(domain));
            CommandRunner.Print(parse, new { powered_on = host }, r => new Markup(r.powered_on is null ? "a powered-on host has room; nothing powered on" : $"powered on [bold]{Markup.Escape(r.powered_on)}[/]"));
            return ExitCodes.Ok;
        });
        power.Subcommands.Add(ensure);
        return power;
    }

    /// <summary><c>omig host power HOST on|off</c>.</summary>
    public static Command HostPower()
    {
        var id = new Argument<string>("HOST") { Description = "Host id" };
        var state = new Argument<string>("STATE") { Description = "on or off" };
        var cmd = new Command("power", "Power a host on or off through the power backend and wait for it (off: only an empty host, and only while its failure domain keeps the headroom)") { id, state };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var power = parse.GetValue(state)!.Trim().ToLowerInvariant() switch
            {
                "on" => HostPowerState.On,
                "off" => HostPowerState.Off,
                var other => throw OmigException.Invalid("STATE", $"'{other}' is not on or off"),
            };
            var record = await client.SetHostPowerAsync(parse.GetValue(id)!, power);
            CommandRunner.Print(parse, record, r => Render.Hosts([r]));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Spectre.Console.Rendering.IRenderable RenderPlan(PowerPlanStatus p)
    {
        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow("plan", Markup.Escape($"{p.PlanId}: keep {p.HeadroomPercent} % of cores and memory free per failure domain (label '{p.DomainLabel}')"));
        grid.AddRow("state", Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{Naming.EnumNames.Of(p.State)}; planned in {p.PlanSeconds:0.###} s")));
        grid.AddRow("hosts freed", Markup.Escape($"{p.HostsFreed} of at most {p.Bound} (bound), {p.Moves} VM moves found"));
        if (!p.Notes.IsEmpty)
        {
            grid.AddRow("notes", Markup.Escape(string.Join("\n", p.Notes.Take(20)) + (p.Notes.Length > 20 ? $"\n… {p.Notes.Length - 20} more" : "")));
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("#", "HOST", "DOMAIN", "VMS", "STATE", "REASON");
        var i = 0;
        foreach (var h in p.Hosts.Take(200))
        {
            table.AddRow($"{++i}", Markup.Escape(h.HostId), Markup.Escape(h.Domain), $"{h.Vms}", Naming.EnumNames.Of(h.State), Markup.Escape(h.Reason ?? ""));
        }

        return new Rows(grid, Domains(p.Domains, true), table);
    }

    private static Spectre.Console.Rendering.IRenderable RenderStatus(PowerStatus s)
    {
        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow("headroom", Markup.Escape($"{s.HeadroomPercent} % of cores and memory per failure domain (label '{s.DomainLabel}'), backend {s.Backend}"));
        grid.AddRow("hosts off", Markup.Escape(s.HostsOff.IsEmpty ? "none" : $"{s.HostsOff.Length}: {string.Join(", ", s.HostsOff.Take(30))}{(s.HostsOff.Length > 30 ? ", …" : "")}"));
        grid.AddRow("last plan", Markup.Escape(s.Plan is { } p
            ? $"{p.PlanId} {Naming.EnumNames.Of(p.State)}: {p.Hosts.Count(h => h.State == PowerHostState.Off)}/{p.HostsFreed} hosts off (bound {p.Bound}), {p.Hosts.Count(h => h.State == PowerHostState.Failed)} failed"
            : "none"));
        var events = new Table().Border(TableBorder.Rounded).AddColumns("AT", "HOST", "POWER", "WHY");
        foreach (var e in s.Events.Take(20))
        {
            events.AddRow(e.At.ToString("u", CultureInfo.InvariantCulture), Markup.Escape(e.HostId), Naming.EnumNames.Of(e.Power), Markup.Escape(e.Reason));
        }

        return new Rows(grid, Domains(s.Domains, false), events);
    }

    private static Table Domains(IEnumerable<PowerDomain> domains, bool plan)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("DOMAIN", "HOSTS ON", "HOSTS OFF", "CORES FREE", "MEMORY FREE");
        if (plan)
        {
            table.AddColumns("FREED", "BOUND");
        }

        foreach (var d in domains)
        {
            var cells = new List<string>
            {
                Markup.Escape(d.Domain), $"{d.HostsOn}", $"{d.HostsOff}",
                string.Create(CultureInfo.InvariantCulture, $"{d.FreeCoresPercent:0.#} % of {d.Cores}"),
                string.Create(CultureInfo.InvariantCulture, $"{d.FreeMemoryPercent:0.#} % of {d.MemoryMiB / 1024.0:0.#} GiB"),
            };
            if (plan)
            {
                cells.AddRange([$"{d.HostsFreed}", $"{d.Bound}"]);
            }

            table.AddRow([.. cells]);
        }

        return table;
    }
}
