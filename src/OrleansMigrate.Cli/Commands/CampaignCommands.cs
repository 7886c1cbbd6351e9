using System.CommandLine;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Operations;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

/// <summary><c>omig campaign start|status|list|pause|resume|cancel</c>: rolling firmware upgrades.</summary>
public static class CampaignCommands
{
    public static Command Build()
    {
        var campaign = new Command("campaign", "Rolling firmware-upgrade campaigns: drain → upgrade → verify → uncordon, host by host");
        campaign.Subcommands.Add(Start());
        campaign.Subcommands.Add(Status());
        campaign.Subcommands.Add(List());
        campaign.Subcommands.Add(Simple("pause", "Start no new host (hosts in progress finish their step)", (c, id, reason) => c.PauseCampaignAsync(id, reason)));
        campaign.Subcommands.Add(Simple("resume", "Carry on (grants the failure budget again)", (c, id, _) => c.ResumeCampaignAsync(id)));
        campaign.Subcommands.Add(Simple("cancel", "Stop: hosts not started are skipped, drains in progress aborted and their hosts put back in service", (c, id, reason) => c.CancelCampaignAsync(id, reason)));
        return campaign;
    }

    private static Command Start()
    {
        var firmware = new Option<string>("--firmware") { Description = "Target firmware version, e.g. 2.5.0", Required = true };
        var select = new Option<string?>("--select") { Description = "Only hosts with this label: KEY=VALUE" };
        var batch = new Option<int>("--batch") { Description = "Hosts in maintenance at once (1-1000)", DefaultValueFactory = _ => 1 };
        var parallel = new Option<int>("--max-parallel-migrations") { Description = "Migrations of the campaign at once (1-10000)", DefaultValueFactory = _ => 4 };
        var budget = new Option<int>("--failure-budget") { Description = "Failed hosts before the campaign pauses itself (1-10000)", DefaultValueFactory = _ => 1 };
        var doubleMoves = new Option<bool>("--allow-double-moves")
        {
            Description = "Start the whole batch at once, even before upgraded hosts have room for its VMs (faster; some VMs then move twice)",
        };
        var id = new Option<string?>("--id") { Description = "Campaign id (default: generated camp-…)" };
        var wait = new Option<bool>("--wait") { Description = "Follow with live progress bars until it ends or pauses" };
        var cmd = new Command("start", "Start a rolling firmware upgrade of the selected hosts") { firmware, select, batch, parallel, budget, doubleMoves, id, wait };
        cmd.SetClientAction(async (parse, client, ct) =>
        {
            string? key = null, value = null;
            if (parse.GetValue(select) is { } sel)
            {
                var parts = sel.Split('=', 2);
                if (parts.Length != 2 || parts[0].Length == 0)
                {
                    throw OmigException.Invalid("--select", $"'{sel}' is not KEY=VALUE");
                }

                (key, value) = (parts[0], parts[1]);
            }

            var status = await client.StartCampaignAsync(
                new CampaignSpec(parse.GetValue(firmware)!, key, value, parse.GetValue(batch), parse.GetValue(parallel), parse.GetValue(budget), "omig", parse.GetValue(doubleMoves)),
                parse.GetValue(id));
            if (parse.GetValue(wait))
            {
                status = await FollowAsync(client, status, GlobalOptions.JsonToConsole(parse), ct);
            }

            CommandRunner.Print(parse, status, Render);
            return ExitCode(status, parse.GetValue(wait));
        });
        return cmd;
    }

    private static Command Status()
    {
        var id = new Argument<string>("CAMPAIGN") { Description = "Campaign id" };
        var watch = new Option<bool>("--watch") { Description = "Follow with live progress bars until it ends or pauses" };
        var cmd = new Command("status", "A campaign's hosts and report") { id, watch };
        cmd.SetClientAction(async (parse, client, ct) =>
        {
            var status = await client.GetCampaignAsync(parse.GetValue(id)!);
            if (parse.GetValue(watch))
            {
                status = await FollowAsync(client, status, GlobalOptions.JsonToConsole(parse), ct);
            }

            CommandRunner.Print(parse, status, Render);
            return ExitCode(status, parse.GetValue(watch));
        });
        return cmd;
    }

    private static Command List()
    {
        var cmd = new Command("list", "Every campaign with its state and counts");
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var all = await client.ListCampaignsAsync();
            CommandRunner.Print(parse, all, list =>
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumns("CAMPAIGN", "FIRMWARE", "STATE", "HOSTS", "UPGRADED", "FAILED", "VMS MOVED", "NOTE");
                foreach (var c in list)
                {
                    table.AddRow(Markup.Escape(c.CampaignId), Markup.Escape(c.Spec.FirmwareVersion), Naming.EnumNames.Of(c.State), $"{c.Hosts.Length}",
                        $"{c.HostsUpgraded}", $"{c.HostsFailed}", $"{c.VmsMoved}", Markup.Escape(c.Note ?? ""));
                }

                return table;
            });
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Simple(string name, string description, Func<OmigClient, string, string, Task<CampaignStatus>> action)
    {
        var id = new Argument<string>("CAMPAIGN") { Description = "Campaign id" };
        var reason = new Option<string>("--reason") { Description = "Why (recorded)", DefaultValueFactory = _ => $"{name} by operator" };
        var cmd = new Command(name, description) { id, reason };
        cmd.SetClientAction(async (parse, client, _) =>
        {
            var status = await action(client, parse.GetValue(id)!, parse.GetValue(reason)!);
            CommandRunner.Print(parse, status, Render);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>With --wait/--watch: 0 completed with every host upgraded, 8 otherwise (paused, cancelled, failures).</summary>
    private static int ExitCode(CampaignStatus s, bool followed) =>
        !followed || (s.State == CampaignState.Completed && s.HostsFailed == 0) ? ExitCodes.Ok : ExitCodes.NotCompleted;

    private static async Task<CampaignStatus> FollowAsync(OmigClient client, CampaignStatus status, bool quiet, CancellationToken ct)
    {
        static bool Stop(CampaignStatus s) => s.IsEnded || s.State == CampaignState.Paused;
        if (quiet || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            return await CommandRunner.FollowByLinesAsync(status, Stop, Summary, s => client.GetCampaignAsync(s.CampaignId), TimeSpan.FromSeconds(1), quiet, ct);
        }

        await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async progress =>
            {
                var overall = progress.AddTask("campaign", maxValue: Math.Max(1, status.Hosts.Length));
                var bars = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                while (true)
                {
                    overall.Value = status.Hosts.Count(h => h.State is CampaignHostState.Done or CampaignHostState.Failed or CampaignHostState.Skipped);
                    overall.Description = Markup.Escape(Summary(status));
                    foreach (var h in status.Hosts.Where(h => h.State is not CampaignHostState.Waiting))
                    {
                        if (!bars.TryGetValue(h.HostId, out var bar))
                        {
                            bar = bars[h.HostId] = progress.AddTask(h.HostId, maxValue: 4);
                        }

                        bar.Value = h.State switch
                        {
                            CampaignHostState.Draining => 1,
                            CampaignHostState.Upgrading => 2,
                            CampaignHostState.Verifying => 3,
                            _ => 4,
                        };
                        bar.Description = Markup.Escape($"{h.HostId}: {Naming.EnumNames.Of(h.State)}{(h.Reason is null ? "" : " — " + h.Reason)}");
                    }

                    if (Stop(status))
                    {
                        break;
                    }

                    await Task.Delay(1000, ct);
                    status = await client.GetCampaignAsync(status.CampaignId);
                }
            });
        return status;
    }

    private static string Summary(CampaignStatus s) =>
        $"{s.CampaignId} → {s.Spec.FirmwareVersion}: {Naming.EnumNames.Of(s.State)}, {s.HostsUpgraded}/{s.Hosts.Length} upgraded, {s.HostsFailed} failed, "
        + $"{s.Hosts.Count(h => h.State is CampaignHostState.Draining or CampaignHostState.Upgrading or CampaignHostState.Verifying)} in progress, {s.VmsMoved} VMs moved";

    private static Spectre.Console.Rendering.IRenderable Render(CampaignStatus s)
    {
        var hosts = new Table().Border(TableBorder.Rounded).AddColumns("HOST", "STATE", "FROM", "VMS MOVED", "ROLLED BACK", "REASON");
        foreach (var h in s.Hosts)
        {
            hosts.AddRow(Markup.Escape(h.HostId), Naming.EnumNames.Of(h.State), Markup.Escape(h.FromVersion), $"{h.VmsMoved}", $"{h.MigrationsRolledBack}", Markup.Escape(h.Reason ?? ""));
        }

        var report = new Grid().AddColumn().AddColumn();
        report.AddRow("campaign", Markup.Escape($"{s.CampaignId} → firmware {s.Spec.FirmwareVersion} ({Naming.EnumNames.Of(s.State)})"));
        report.AddRow("hosts upgraded", $"{s.HostsUpgraded} of {s.Hosts.Length} ({s.HostsFailed} failed, budget {s.Spec.FailureBudget})");
        report.AddRow("VMs moved", $"{s.VmsMoved}");
        report.AddRow("migrations", $"{s.MigrationsCompleted} completed, {s.MigrationsRolledBack} rolled back, {s.MigrationsFailed} failed");
        report.AddRow("could not move", s.Unmovable.IsEmpty ? "-" : Markup.Escape(string.Join("\n", s.Unmovable)));
        report.AddRow("total time", s.TotalSeconds is { } t ? $"{t:0.0} s" : "(running)");
        if (s.Note is not null)
        {
            report.AddRow("note", Markup.Escape(s.Note));
        }

        return new Rows(hosts, report);
    }
}
