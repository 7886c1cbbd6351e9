using System.CommandLine;
using System.Globalization;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Client;
using OrleansMigrate.Client.Parsing;
using OrleansMigrate.Errors;
using OrleansMigrate.Operations;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

/// <summary><c>omig defrag plan|apply|show</c> and <c>omig balance plan|apply|show</c>.</summary>
public static class PlanCommands
{
    public static Command Defrag()
    {
        var defrag = new Command("defrag", "Make room for instances of a shape with the fewest migrations (compatibility and anti-affinity kept)");
        var shape = new Option<string>("--shape") { Description = "The instance shape: vcpus=N,memory=SIZE[,features=a+b] (e.g. vcpus=32,memory=128G)", Required = true };
        var count = new Option<int>("--count") { Description = "How many instances of the shape must fit (1-100000)", DefaultValueFactory = _ => 1 };
        var plan = new Command("plan", "Compute and store a plan (nothing moves); prints its id, moves and the lower bound") { shape, count };
        plan.SetClientAction(async (parse, client, _) =>
        {
            var (vcpus, memory, features) = ParseShape(parse.GetValue(shape)!);
            var status = await client.PlanDefragAsync(vcpus, memory, parse.GetValue(count), features);
            CommandRunner.Print(parse, status, Render);
            return status.Reached ? ExitCodes.Ok : ExitCodes.NotCompleted;
        });
        defrag.Subcommands.Add(plan);
        defrag.Subcommands.Add(Apply());
        defrag.Subcommands.Add(Show());
        return defrag;
    }

    public static Command Balance()
    {
        var balance = new Command("balance", "Move VMs off hosts above a utilisation threshold with the fewest moves; a per-VM cool-down prevents ping-pong");
        var maxUtil = new Option<double>("--max-util") { Description = "Highest share of a host's cores and memory in use (0.1-1)", DefaultValueFactory = _ => 0.8 };
        var coolDown = new Option<int>("--cool-down-min") { Description = "A VM the balancer moved within this many minutes stays put (0-10080)", DefaultValueFactory = _ => 60 };
        var plan = new Command("plan", "Compute and store a plan (nothing moves)") { maxUtil, coolDown };
        plan.SetClientAction(async (parse, client, _) =>
        {
            var status = await client.PlanBalanceAsync(parse.GetValue(maxUtil), parse.GetValue(coolDown));
            CommandRunner.Print(parse, status, Render);
            return status.Reached ? ExitCodes.Ok : ExitCodes.NotCompleted;
        });
        balance.Subcommands.Add(plan);
        balance.Subcommands.Add(Apply());
        balance.Subcommands.Add(Show());
        return balance;
    }

    private static Command Apply()
    {
        var id = new Argument<string>("PLAN-ID") { Description = "The plan's id (from plan)" };
        var parallel = new Option<int>("--max-parallel") { Description = "Moves in flight at once (1-1000)", DefaultValueFactory = _ => 4 };
        var wait = new Option<bool>("--wait") { Description = "Follow until every move ended (exit 0 when all were made)" };
        var apply = new Command("apply", "Execute a stored plan, its moves in order") { id, parallel, wait };
        apply.SetClientAction(async (parse, client, ct) =>
        {
            var status = await client.ApplyPlanAsync(parse.GetValue(id)!, parse.GetValue(parallel));
            if (parse.GetValue(wait))
            {
                while (!status.IsEnded)
                {
                    await Task.Delay(500, ct);
                    status = await client.GetPlanAsync(status.PlanId);
                    if (!GlobalOptions.JsonToConsole(parse))
                    {
                        Console.Error.WriteLine($"{status.PlanId}: {status.Moves.Count(m => m.State == PlanMoveState.Done)}/{status.Moves.Length} moves done, "
                            + $"{status.Moves.Count(m => m.State == PlanMoveState.Migrating)} migrating, {status.Moves.Count(m => m.State == PlanMoveState.Failed)} failed");
                    }
                }
            }

            CommandRunner.Print(parse, status, Render);
            return !parse.GetValue(wait) || status.State == FleetPlanState.Completed ? ExitCodes.Ok : ExitCodes.NotCompleted;
        });
        return apply;
    }

    private static Command Show()
    {
        var id = new Argument<string>("PLAN-ID") { Description = "The plan's id" };
        var show = new Command("show", "A plan with the state of each move") { id };
        show.SetClientAction(async (parse, client, _) =>
        {
            CommandRunner.Print(parse, await client.GetPlanAsync(parse.GetValue(id)!), Render);
            return ExitCodes.Ok;
        });
        return show;
    }

    private static (int Vcpus, long MemoryMiB, System.Collections.Immutable.ImmutableArray<string> Features) ParseShape(string text)
    {
        int? vcpus = null;
        long? memory = null;
        System.Collections.Immutable.ImmutableArray<string> features = [];
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
            switch (kv)
            {
                case ["vcpus", var v] when int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 4096:
                    vcpus = n;
                    break;
                case ["memory", var m]:
                    memory = CliParsers.ParseMemoryMiB("--shape", m);
                    break;
                case ["features", var f]:
                    features = [.. f.Split('+', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
                    break;
                default:
                    throw OmigException.Invalid("--shape", $"'{part}' is not vcpus=N (1-4096), memory=SIZE or features=a+b");
            }
        }

        return (vcpus ?? throw OmigException.Invalid("--shape", "needs vcpus=N"), memory ?? throw OmigException.Invalid("--shape", "needs memory=SIZE"), features);
    }

    private static Spectre.Console.Rendering.IRenderable Render(FleetPlanStatus p)
    {
        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow("plan", Markup.Escape($"{p.PlanId} ({p.Kind}): {p.Goal}"));
        grid.AddRow("state", Markup.Escape($"{Naming.EnumNames.Of(p.State)}; goal {(p.Reached ? "reachable" : "NOT fully reachable")}; planned in {p.PlanSeconds:0.###} s"));
        grid.AddRow("moves", Markup.Escape($"{p.Moves.Length}{(p.LowerBound is { } lb ? $" (lower bound {lb})" : "")}"));
        if (!p.Notes.IsEmpty)
        {
            grid.AddRow("notes", Markup.Escape(string.Join("\n", p.Notes.Take(20)) + (p.Notes.Length > 20 ? $"\n… {p.Notes.Length - 20} more" : "")));
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("#", "VM", "FROM", "TO", "POLICY", "STATE", "MIGRATION", "REASON");
        var i = 0;
        foreach (var m in p.Moves.Take(200))
        {
            table.AddRow($"{++i}", Markup.Escape(m.VmId), Markup.Escape(m.FromHost), Markup.Escape(m.ToHost), Markup.Escape(m.Policy), Naming.EnumNames.Of(m.State),
                Markup.Escape(m.MigrationId ?? "-"), Markup.Escape(m.Reason ?? ""));
        }

        return new Rows(grid, table);
    }
}
