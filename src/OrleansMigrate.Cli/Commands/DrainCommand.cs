using System.CommandLine;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Operations;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

/// <summary><c>omig host drain HOST [--wait] [--abort] [--status]</c>.</summary>
public static class DrainCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("HOST") { Description = "Host id" };
        var wait = new Option<bool>("--wait") { Description = "Follow the drain with live progress until it ends (exit 0 when every VM moved)" };
        var abort = new Option<bool>("--abort") { Description = "Stop the drain: queued migrations cancelled, running ones finish or roll back; the host stays cordoned" };
        var status = new Option<bool>("--status") { Description = "Show the current or last drain without starting one" };
        var parallel = new Option<int>("--max-parallel") { Description = "Migrations of this drain at once (1-64)", DefaultValueFactory = _ => 2 };
        var policy = new Option<string?>("--policy") { Description = "Migration policy for every VM (default: each VM's instance class, else standard)" };
        var attempts = new Option<int>("--max-attempts") { Description = "Migrations tried per VM before it is reported failed (1-20)", DefaultValueFactory = _ => 3 };
        var reason = new Option<string>("--reason") { Description = "Why the drain is aborted (recorded)", DefaultValueFactory = _ => "aborted by operator" };
        var cmd = new Command("drain", "Cordon a host and live-migrate every VM away under the concurrency limits; reports each VM that cannot move and why")
        {
            id, wait, abort, status, parallel, policy, attempts, reason,
        };
        cmd.SetClientAction(async (parse, client, ct) =>
        {
            var host = parse.GetValue(id)!;
            if (parse.GetValue(abort) && parse.GetValue(status))
            {
                throw OmigException.Invalid("--abort", "cannot be combined with --status");
            }

            DrainStatus drain;
            if (parse.GetValue(abort))
            {
                drain = await client.AbortDrainAsync(host, parse.GetValue(reason)!);
            }
            else if (parse.GetValue(status))
            {
                drain = await client.GetDrainAsync(host);
            }
            else
            {
                var running = await client.GetDrainOrNullAsync(host);
                drain = await client.DrainHostAsync(host, new DrainOptions(parse.GetValue(parallel), parse.GetValue(policy), null, parse.GetValue(attempts), "omig"));
                if (running is { IsEnded: false } && running.StartedAt == drain.StartedAt)
                {
                    Console.Error.WriteLine(Joined(drain));
                }
            }

            if (parse.GetValue(wait))
            {
                drain = await FollowAsync(client, drain, quiet: GlobalOptions.JsonToConsole(parse), ct);
            }

            var previous = parse.GetValue(status) ? await client.GetDrainHistoryAsync(host) : [];
            if (GlobalOptions.JsonToConsole(parse) && parse.GetValue(status))
            {
                // The current or last drain as always, with the host's earlier drains under "previous".
                var node = System.Text.Json.JsonSerializer.SerializeToNode(drain, Json.Options)!.AsObject();
                node["previous"] = System.Text.Json.JsonSerializer.SerializeToNode(previous, Json.Options);
                Console.Out.WriteLine(node.ToJsonString(Json.Options));
            }
            else
            {
                CommandRunner.Print(parse, drain, d => Render(d, previous));
            }

            return !parse.GetValue(wait) || drain.State == DrainState.Completed ? ExitCodes.Ok : ExitCodes.NotCompleted;
        });
        return cmd;
    }

    /// <summary>Polls until the drain ends, with a progress bar on a terminal.</summary>
    private static async Task<DrainStatus> FollowAsync(OmigClient client, DrainStatus drain, bool quiet, CancellationToken ct)
    {
        if (quiet || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            return await CommandRunner.FollowByLinesAsync(drain, d => d.IsEnded, Summary, d => client.GetDrainAsync(d.HostId), TimeSpan.FromMilliseconds(500), quiet, ct);
        }

        await AnsiConsole.Progress().AutoClear(false).StartAsync(async progress =>
        {
            var task = progress.AddTask($"drain {Markup.Escape(drain.HostId)}", maxValue: Math.Max(1, drain.Vms.Length));
            while (true)
            {
                task.MaxValue = Math.Max(1, drain.Vms.Length);
                task.Value = drain.Vms.Count(v => v.State is not (DrainVmState.Pending or DrainVmState.Migrating));
                task.Description = Markup.Escape(Summary(drain));
                if (drain.IsEnded)
                {
                    break;
                }

                await Task.Delay(500, ct);
                drain = await client.GetDrainAsync(drain.HostId);
            }
        });
        return drain;
    }

    /// <summary>What a second <c>host drain</c> of a host being drained says: it joined the running drain.</summary>
    public static string Joined(DrainStatus d) =>
        $"omig: host {d.HostId} is already being drained (since {d.StartedAt.UtcDateTime:u}): following that drain; its options stay as they were";

    public static string Summary(DrainStatus d) =>
        $"drain {d.HostId} {Naming.EnumNames.Of(d.State)}: {d.Vms.Count(v => v.State == DrainVmState.Moved)} moved, "
        + $"{d.Vms.Count(v => v.State == DrainVmState.Migrating)} migrating, {d.Vms.Count(v => v.State == DrainVmState.Pending)} pending, "
        + $"{d.Vms.Count(v => v.State is DrainVmState.Unmovable or DrainVmState.Failed)} cannot move";

    /// <summary>The drain's VMs, then its summary and note each on a line of their own (a table caption would wrap them at
    /// the table's width, mid-phrase), then the host's earlier drains, if any.</summary>
    public static Spectre.Console.Rendering.IRenderable Render(DrainStatus d, IReadOnlyList<DrainStatus> previous)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("VM", "STATE", "ATTEMPTS", "MIGRATION", "TO", "REASON");
        foreach (var v in d.Vms)
        {
            table.AddRow(Markup.Escape(v.VmId), Naming.EnumNames.Of(v.State), $"{v.Attempts}", Markup.Escape(v.MigrationId ?? "-"),
                Markup.Escape(v.Destination ?? "-"), Markup.Escape(v.Reason ?? ""));
        }

        var rows = new List<Spectre.Console.Rendering.IRenderable> { table, new Text(Summary(d)) };
        if (d.Note is not null)
        {
            rows.Add(new Text(d.Note));
        }

        if (previous.Count > 0)
        {
            rows.Add(new Text($"earlier drains of {d.HostId}, newest first:"));
            rows.AddRange(previous.Select(p => new Text($"  {p.StartedAt.UtcDateTime:u}: {Summary(p)}{(p.Note is null ? "" : $" ({p.Note})")}")));
        }

        return new Rows(rows);
    }
}
