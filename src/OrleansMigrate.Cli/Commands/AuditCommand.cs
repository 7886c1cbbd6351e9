using System.CommandLine;
using OrleansMigrate.Client;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Errors;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

/// <summary><c>omig audit</c>: one pass of the invariant checks against the components' own views.</summary>
public static class AuditCommand
{
    public static Command Build()
    {
        var stuck = new Option<int>("--stuck-after-min") { Description = "Report a migration whose phase has not changed for this many minutes (1-1440)", DefaultValueFactory = _ => 10 };
        var cmd = new Command("audit", "Check the invariants (a VM runs on one host, one disk writer, flows deliver, ledgers, reservations, migration progress) against every component; exit 1 on a finding") { stuck };
        cmd.SetClientAction(async (parse, client, ct) =>
        {
            var minutes = parse.GetValue(stuck);
            if (minutes is < 1 or > 1440)
            {
                throw OmigException.Invalid("--stuck-after-min", $"must be between 1 and 1440, got {minutes}");
            }

            var report = await FleetAuditor.AuditAsync(client, TimeSpan.FromMinutes(minutes), ct);
            CommandRunner.Print(parse, report, r =>
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumns("INVARIANT", "SUBJECT", "FINDING");
                foreach (var f in r.Findings)
                {
                    table.AddRow(Markup.Escape(f.Invariant), Markup.Escape(f.Subject), Markup.Escape(f.Detail));
                }

                table.Caption($"{r.VmsChecked} VMs checked, {r.VmsInMigration} in migration (skipped), {r.Findings.Length} finding(s)");
                return table;
            });
            return report.Clean ? 0 : 1;
        });
        return cmd;
    }
}
