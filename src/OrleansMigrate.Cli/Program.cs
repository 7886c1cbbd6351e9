using System.CommandLine;
using OrleansMigrate.Cli.Bench;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Cli.Demo;
using Spectre.Console;

// Piped output has no terminal width; tables would wrap at 80 columns and split ids.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 200;
}

var root = new RootCommand("omig: the OrleansMigrate operator CLI — fleet registry, live migration, fleet operations");
GlobalOptions.AddTo(root);
root.Subcommands.Add(ClusterCommands.Build());
root.Subcommands.Add(HostCommands.Build());
root.Subcommands.Add(VmCommands.Build());
root.Subcommands.Add(MigrationCommands.Build());
root.Subcommands.Add(DemoCommand.Build());
root.Subcommands.Add(BenchCommands.Build());
root.Subcommands.Add(AuditCommand.Build());
root.Subcommands.Add(CampaignCommands.Build());
root.Subcommands.Add(PolicyCommands.Build());
root.Subcommands.Add(PlanCommands.Defrag());
root.Subcommands.Add(PlanCommands.Balance());

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine($"omig: error: {error.Message}");
    }

    Console.Error.WriteLine("Run 'omig --help' for usage.");
    return 2;
}

return await parse.InvokeAsync();
