using System.CommandLine;
using System.Globalization;
using OrleansMigrate.Audit;
using OrleansMigrate.Client;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Errors;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

/// <summary><c>omig audit</c>: one pass of the invariant checks against the components' own views; with <c>--last</c>,
/// the continuous auditor's last report instead.</summary>
public static class AuditCommand
{
    public static Command Build()
    {
        var stuck = new Option<int>("--stuck-after-min") { Description = "Report a migration whose phase has not changed for this many minutes (1-1440)", DefaultValueFactory = _ => 10 };
        var last = new Option<bool>("--last") { Description = "Print the continuous auditor's last report (time, age, counts per invariant, findings) instead of running a pass" };
        var cmd = new Command("audit", "Check the invariants (a VM runs on one host, one disk writer, flows deliver, ledgers, reservations, migration progress) against every component; exit 1 on a finding") { stuck, last };
        cmd.SetClientAction(async (parse, client, ct) =>
        {
            if (parse.GetValue(last))
            {
                if (parse.GetResult(stuck) is { Implicit: false })
                {
                    throw OmigException.Invalid("--stuck-after-min", "not with --last: the continuous auditor's silos set it");
                }

                return await PrintLastAsync(parse, client);
            }

            var minutes = parse.GetValue(stuck);
            if (minutes is < 1 or > 1440)
            {
                throw OmigException.Invalid("--stuck-after-min", $"must be between 1 and 1440, got {minutes}");
            }

            var report = await FleetAuditor.AuditAsync(client, TimeSpan.FromMinutes(minutes), ct);
            CommandRunner.Print(parse, report, r => Findings(r, $"{r.VmsChecked} VMs checked, {r.VmsInMigration} in migration (skipped), {r.Findings.Length} finding(s)"));
            return report.Clean ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }

    private static async Task<int> PrintLastAsync(ParseResult parse, OmigClient client)
    {
        var status = await client.GetAuditorStatusAsync();
        if (status.LastReport is null)
        {
            throw OmigException.NotFound("--last",
                $"the continuous auditor has not completed a pass yet ({status.Passes} pass(es) run" +
                (status.LastError is { } e ? $", last error: {e}" : string.Empty) +
                "); it runs every Omig:AuditIntervalSeconds on the control silos (0 turns it off)");
        }

        CommandRunner.Print(parse, status, s =>
        {
            var summary = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumns("", "");
            void Row(string k, string v) => summary.AddRow(Markup.Escape(k), Markup.Escape(v));
            Row("last pass", $"{s.LastPassAt:u} ({Age(s.AgeSeconds)} ago, took {s.LastPassDurationMs:0} ms)");
            Row("auditor", $"on silo {s.SiloName} ({s.Silo}), every {(s.IntervalSeconds > 0 ? $"{s.IntervalSeconds:0.#} s" : "? s (no driver started this activation yet)")}");
            Row("passes", $"{s.Passes} ({s.FailedPasses} failed)");
            if (s.LastError is { } error)
            {
                Row("last pass failed", error);
            }

            Row("findings", string.Join(", ", s.Counts.Select(c => $"{c.Key} {c.Value}")));
            var r = s.LastReport!;
            return new Rows(summary, Findings(r, $"{r.VmsChecked} VMs checked, {r.VmsInMigration} in migration (skipped), {r.Findings.Length} finding(s)"));
        });
        return status.LastReport.Clean ? ExitCodes.Ok : ExitCodes.Unexpected;
    }

    private static Table Findings(AuditReport report, string caption)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("INVARIANT", "SUBJECT", "FINDING");
        foreach (var f in report.Findings)
        {
            table.AddRow(Markup.Escape(f.Invariant), Markup.Escape(f.Subject), Markup.Escape(f.Detail));
        }

        table.Caption(caption);
        return table;
    }

    private static string Age(double? seconds) => seconds switch
    {
        null => "?",
        < 120 => $"{seconds.Value.ToString("0", CultureInfo.InvariantCulture)} s",
        < 7200 => $"{(seconds.Value / 60).ToString("0", CultureInfo.InvariantCulture)} min",
        _ => $"{(seconds.Value / 3600).ToString("0.#", CultureInfo.InvariantCulture)} h",
    };
}
