using System.CommandLine;
using System.Globalization;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Migration;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

public static class MigrationCommands
{
    /// <summary><c>omig vm migrate</c>.</summary>
    public static Command Migrate()
    {
        var vm = new Argument<string>("VM") { Description = "VM id" };
        var to = new Option<string?>("--to") { Description = "Destination host; chosen by placement when omitted" };
        var policy = new Option<string?>("--policy") { Description = "Migration policy (omig policy list); default: the VM's own (label migration-policy, else its instance class, else standard)" };
        var mode = new Option<string>("--mode") { Description = "parallel (default); for comparison: serial (the naive design), no-relay or no-session-copy (parallel without the relay, or without copying the session table)", DefaultValueFactory = _ => "parallel" };
        var priority = new Option<string>("--priority") { Description = "user (default) or maintenance (queued first)", DefaultValueFactory = _ => "user" };
        var wait = new Option<bool>("--wait") { Description = "Follow the migration with a live progress display until it ends" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Preflight only: sample the VM's dirty rate, predict total time and downtime, say yes/no per destination; nothing moves" };
        var sample = new Option<int>("--sample-ms") { Description = "With --dry-run: how long to sample the dirty rate (100-10000 ms)", DefaultValueFactory = _ => 1000 };
        var cold = new Option<bool>("--cold") { Description = "Cold move (for a VM that cannot move live: pass-through devices, a policy that never live-migrates): tell the owner, shut the guest down (hard after the policy's ColdShutdownTimeoutMs), hand its disks and flows over, start it on the destination. The VM must be running or stopped and its policy must allow it (ColdMove=allow)" };
        var cmd = new Command("migrate", "Live-migrate a VM with its disks and network (--cold: move it cold)") { vm, to, policy, mode, priority, wait, dryRun, sample, cold };
        cmd.SetClientAction(async (parse, client, ct) =>
        {
            if (parse.GetValue(dryRun) && parse.GetValue(cold))
            {
                return CommandRunner.Fail(ExitCodes.InvalidInput, "--dry-run: predicts a live migration's pre-copy; a cold move has none (leave out --dry-run or --cold)");
            }

            if (parse.GetValue(dryRun))
            {
                var report = await client.PreflightAsync(new MigrationRequest(parse.GetValue(vm)!, parse.GetValue(to), parse.GetValue(policy)), parse.GetValue(sample));
                CommandRunner.Print(parse, report, Render.Preflight);
                return report.Go ? ExitCodes.Ok : ExitCodes.PreflightNo;
            }

            var request = new MigrationRequest(
                parse.GetValue(vm)!,
                parse.GetValue(to),
                parse.GetValue(policy),
                ParseEnum<OrchestrationMode>("--mode", parse.GetValue(mode)!),
                ParseEnum<MigrationPriority>("--priority", parse.GetValue(priority)!),
                "omig",
                Cold: parse.GetValue(cold));
            var status = await client.MigrateAsync(request);
            if (!parse.GetValue(wait))
            {
                CommandRunner.Print(parse, status, s => Render.Migrations([s]));
                return ExitCodes.Ok;
            }

            var final = await FollowAsync(parse, client, status.MigrationId, ct);
            return final.Phase == MigrationPhase.Completed ? ExitCodes.Ok : ExitCodes.NotCompleted;
        });
        return cmd;
    }

    /// <summary><c>omig migration list|show|watch|cancel|force-complete</c>.</summary>
    public static Command Build()
    {
        var migration = new Command("migration", "Live migrations");
        var all = new Option<bool>("--all") { Description = "Include ended migrations" };
        var list = new Command("list", "Migrations in flight and queued (with --all, the recent history)") { all };
        list.SetClientAction(async (parse, client, _) =>
        {
            var migrations = await client.ListMigrationsAsync(parse.GetValue(all));
            CommandRunner.Print(parse, migrations, m => Render.Migrations(m));
            return ExitCodes.Ok;
        });
        migration.Subcommands.Add(list);

        var showId = new Argument<string>("MIGRATION") { Description = "Migration id (mig-…)" };
        var show = new Command("show", "A migration with its phase timeline and downtime breakdown") { showId };
        show.SetClientAction(async (parse, client, _) =>
        {
            var status = await client.GetMigrationAsync(parse.GetValue(showId)!);
            CommandRunner.Print(parse, status, Render.MigrationReport);
            return ExitCodes.Ok;
        });
        migration.Subcommands.Add(show);

        var watchId = new Argument<string>("MIGRATION") { Description = "Migration id (mig-…)" };
        var watch = new Command("watch", "Follow a migration live until it ends") { watchId };
        watch.SetClientAction(async (parse, client, ct) =>
        {
            var final = await FollowAsync(parse, client, parse.GetValue(watchId)!, ct);
            return final.Phase == MigrationPhase.Completed ? ExitCodes.Ok : ExitCodes.NotCompleted;
        });
        migration.Subcommands.Add(watch);

        var cancelId = new Argument<string>("MIGRATION") { Description = "Migration id (mig-…)" };
        var reason = new Option<string>("--reason") { Description = "Why (recorded)", DefaultValueFactory = _ => "cancelled by operator" };
        var cancel = new Command("cancel", "Roll a migration back (honoured before the commit point)") { cancelId, reason };
        cancel.SetClientAction(async (parse, client, _) =>
        {
            // An ended migration cannot be cancelled: say so with its own exit code rather than print it as if cancelled.
            // The grain answers a cancel that came too late with the ended status, so the answer is checked too.
            var id = parse.GetValue(cancelId)!;
            var before = await client.GetMigrationAsync(id);
            var status = before.IsEnded ? before : await client.CancelMigrationAsync(id, parse.GetValue(reason)!);
            if (before.IsEnded || status.Phase is MigrationPhase.Completed or MigrationPhase.PostMigration)
            {
                return CommandRunner.Fail(ExitCodes.AlreadyEnded, CancelRefusal(id, status.Phase));
            }

            CommandRunner.Print(parse, status, s => Render.Migrations([s]));
            return ExitCodes.Ok;
        });
        migration.Subcommands.Add(cancel);
        migration.Subcommands.Add(MigrationForceCompleteCommand.Build());
        return migration;
    }

    /// <summary>Live progress (a bar while a terminal is attached, one line per phase otherwise), then the report.</summary>
    public static async Task<MigrationStatus> FollowAsync(ParseResult parse, OmigClient client, string migrationId, CancellationToken ct)
    {
        var final = await FollowAsync(client, [migrationId], quiet: GlobalOptions.JsonToConsole(parse), ct);
        CommandRunner.Print(parse, final[0], Render.MigrationReport);
        return final[0];
    }

    /// <summary>Follows several migrations at once with a bar each; returns their final statuses in order.</summary>
    public static async Task<IReadOnlyList<MigrationStatus>> FollowAsync(OmigClient client, IReadOnlyList<string> migrationIds, bool quiet, CancellationToken ct)
    {
        var last = new MigrationStatus?[migrationIds.Count];
        if (!quiet && !Console.IsOutputRedirected)
        {
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
                .StartAsync(ctx => Task.WhenAll(migrationIds.Select(async (id, i) =>
                {
                    var task = ctx.AddTask(id, maxValue: 100);
                    await foreach (var status in client.WatchMigrationAsync(id, ct))
                    {
                        last[i] = status;
                        task.Description = Markup.Escape(Line(status));
                        task.Value = Percent(status);
                    }

                    task.Value = 100;
                })));
        }
        else
        {
            await Task.WhenAll(migrationIds.Select(async (id, i) =>
            {
                MigrationPhase? phase = null;
                AgentWait? wait = null;
                var waitPrinted = DateTimeOffset.MinValue;
                await foreach (var status in client.WatchMigrationAsync(id, ct))
                {
                    last[i] = status;
                    if (quiet)
                    {
                        continue;
                    }

                    if (status.Phase != phase)
                    {
                        Console.Out.WriteLine(Line(status));
                        phase = status.Phase;
                    }

                    // A wait for a host's agent: the whole reason once, then how long it has lasted every 10 s, and its end.
                    var now = status.IsEnded ? null : status.AgentWait;
                    if (now is not null && (wait is null || wait.HostId != now.HostId || wait.Since != now.Since))
                    {
                        Console.Out.WriteLine($"{status.MigrationId} {WaitLine(now)}: {now.Reason}");
                        waitPrinted = DateTimeOffset.UtcNow;
                    }
                    else if (now is not null && DateTimeOffset.UtcNow - waitPrinted >= TimeSpan.FromSeconds(10))
                    {
                        Console.Out.WriteLine($"{status.MigrationId} {WaitLine(now)}");
                        waitPrinted = DateTimeOffset.UtcNow;
                    }
                    else if (now is null && wait is not null && status.AgentWait is null)
                    {
                        Console.Out.WriteLine($"{status.MigrationId} host {wait.HostId}'s agent answers again after {Render.Elapsed(DateTimeOffset.UtcNow - wait.Since)}");
                    }

                    wait = now;
                    if (status.IsEnded && status.Failure is { } failure)
                    {
                        // In full on one line: the report's table wraps it.
                        Console.Out.WriteLine($"{status.MigrationId} {Render.PhaseName(status.Phase)}: {failure}");
                    }
                }
            }));
        }

        var final = new List<MigrationStatus>();
        for (var i = 0; i < migrationIds.Count; i++)
        {
            final.Add(last[i] ?? await client.GetMigrationAsync(migrationIds[i]));
        }

        return final;
    }

    /// <summary>Why <c>migration cancel</c> cancelled nothing: the migration had ended, or passed its commit point.</summary>
    public static string CancelRefusal(string migrationId, MigrationPhase phase) => phase switch
    {
        MigrationPhase.Completed => $"migration {migrationId} already completed, nothing cancelled",
        MigrationPhase.RolledBack => $"migration {migrationId} already rolled back, nothing cancelled",
        MigrationPhase.Failed => $"migration {migrationId} already failed, nothing cancelled",
        _ => $"migration {migrationId} is past its commit point ({Render.PhaseName(phase)}) and will complete, nothing cancelled",
    };

    /// <summary>"waiting for host h-2's agent (source; step: …) since …, 45 s; gives up at … (in 4 min 15 s)".</summary>
    public static string WaitLine(AgentWait w)
    {
        var now = DateTimeOffset.UtcNow;
        var since = string.Create(CultureInfo.InvariantCulture, $"{w.Since:u}");
        var until = w.Deadline is { } d
            ? string.Create(CultureInfo.InvariantCulture, $"gives up at {d:u} (in {Render.Elapsed(d - now)})")
            : "no deadline: the migration committed and rolls forward once it answers";
        return $"waiting for host {w.HostId}'s agent ({w.Role}; step: {w.Step}) since {since}, {Render.Elapsed(now - w.Since)}; {until}";
    }

    private static string Line(MigrationStatus s)
    {
        var head = $"{s.MigrationId} {s.Request.VmId} {s.SourceHost}→{s.DestinationHost} {Render.PhaseName(s.Phase)}";
        if (s.AgentWait is { } w && !s.IsEnded)
        {
            // The progress bar's line: short; the report and 'migration show' have the reason.
            return head + $": waiting for host {w.HostId}'s agent, {Render.Elapsed(DateTimeOffset.UtcNow - w.Since)}"
                + (w.Deadline is { } d ? $", gives up in {Render.Elapsed(d - DateTimeOffset.UtcNow)}" : "");
        }

        return s.Progress.Round == 0
            ? head
            : head + string.Create(CultureInfo.InvariantCulture,
                $" round {s.Progress.Round}, {s.Progress.BytesSent / 1048576.0:0} MiB sent, dirty {s.Progress.DirtyRateBytesPerSecond / 1e6:0.#} MB/s, expected downtime {s.Progress.ExpectedDowntimeMs:0.#} ms");
    }

    private static double Percent(MigrationStatus s) => s.Phase switch
    {
        MigrationPhase.Queued or MigrationPhase.Prepare => 2,
        MigrationPhase.PreCopy or MigrationPhase.PreLastCopy when s.Progress.BytesSent + s.Progress.BytesRemaining > 0 =>
            5 + (85.0 * s.Progress.BytesSent / (s.Progress.BytesSent + s.Progress.BytesRemaining)),
        MigrationPhase.PreCopy or MigrationPhase.PreLastCopy => 5,
        MigrationPhase.Switchover => 92,
        MigrationPhase.PostMigration => 95,
        _ => 100,
    };

    /// <summary>A value by its user-facing name (<see cref="Naming.EnumNames"/>: <c>no_session_copy</c>), written with dashes
    /// like the switches (<c>no-session-copy</c>) or underscores, in any case; numbers are not names.</summary>
    public static T ParseEnum<T>(string field, string text)
        where T : struct, Enum
    {
        var name = text.Trim().Replace('-', '_');
        foreach (var value in Enum.GetValues<T>())
        {
            if (string.Equals(Naming.EnumNames.Of(value), name, StringComparison.OrdinalIgnoreCase) || string.Equals(value.ToString(), name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        throw OmigException.Invalid(field, $"'{text}' is not one of {string.Join(", ", Enum.GetValues<T>().Select(v => Naming.EnumNames.Of(v).Replace('_', '-')))}");
    }
}
