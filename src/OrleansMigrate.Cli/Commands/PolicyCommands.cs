using System.CommandLine;
using System.Globalization;
using OrleansMigrate.Cli.Output;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

/// <summary><c>omig policy list</c>: the migration policies (instance classes) the control plane applies.</summary>
public static class PolicyCommands
{
    public static Command Build()
    {
        var policy = new Command("policy", "Migration policies: one per instance class (a VM's label migration-policy, else its class), built-in and from Omig:Policies");
        var list = new Command("list", "Every policy with its targets and rules");
        list.SetClientAction(async (parse, client, _) =>
        {
            var all = await client.ListPoliciesAsync();
            CommandRunner.Print(parse, all, policies =>
            {
                var table = new Table().Border(TableBorder.Rounded)
                    .AddColumns("POLICY", "LIVE", "DOWNTIME TARGET", "MAX TARGET", "LINK", "ON STALL", "ON TIMEOUT", "AUTO-CONVERGE", "CHANNELS", "POST-COPY", "OLDER VERSIONS", "WINDOW (UTC)", "NOTIFY OWNER", "COLD MOVE");
                foreach (var p in policies)
                {
                    table.AddRow(Markup.Escape(p.Name), p.LiveMigrate ? "yes" : "[yellow]never[/]",
                        string.Create(CultureInfo.InvariantCulture, $"{p.DowntimeTargetMs:0.##} ms"), string.Create(CultureInfo.InvariantCulture, $"{p.MaxDowntimeTargetMs:0.##} ms"),
                        string.Create(CultureInfo.InvariantCulture, $"{p.LinkBandwidthBytesPerSecond * 8 / 1e9:0.##} Gb/s"), Naming.EnumNames.Of(p.OnStall), Naming.EnumNames.Of(p.OnTimeout),
                        p.AutoConverge ? "yes" : "no", Channels(p.MigrationChannels), p.PostCopy ? "[yellow]allowed[/]" : "no", p.AllowOlderVersion ? "allowed" : "no", Markup.Escape(p.MaintenanceWindowUtc ?? "any"), p.NotifyOwner ? "yes" : "no",
                        p.ColdMove == Fleet.ColdMove.Allow ? string.Create(CultureInfo.InvariantCulture, $"allow ({p.ColdShutdownTimeoutMs / 1000:0.#} s to power off)") : "never");
                }

                return table;
            });
            return ExitCodes.Ok;
        });
        policy.Subcommands.Add(list);
        return policy;
    }

    /// <summary>A policy's migration channels as the list shows them: <c>1</c>, or <c>4 (multifd)</c>.</summary>
    public static string Channels(int channels) => channels > 1 ? string.Create(CultureInfo.InvariantCulture, $"{channels} (multifd)") : "1";
}
