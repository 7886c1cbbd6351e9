using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using OrleansMigrate.Cli.Commands;
using Spectre.Console;

namespace OrleansMigrate.Cli;

/// <summary>The <c>omig</c> command tree; <c>omig --help</c> ends with the exit-code table of <see cref="ExitCodes"/>.</summary>
public static class OmigCommandLine
{
    public static RootCommand Build()
    {
        var root = new RootCommand("omig: the OrleansMigrate operator CLI — fleet registry, live migration, fleet operations");
        GlobalOptions.AddTo(root);
        root.Subcommands.Add(ClusterCommands.Build());
        root.Subcommands.Add(HostCommands.Build());
        root.Subcommands.Add(VmCommands.Build());
        root.Subcommands.Add(MigrationCommands.Build());
        foreach (var standIn in SiblingPrograms.StandIns())
        {
            root.Subcommands.Add(standIn);
        }

        root.Subcommands.Add(AuditCommand.Build());
        root.Subcommands.Add(CampaignCommands.Build());
        root.Subcommands.Add(PolicyCommands.Build());
        root.Subcommands.Add(PlanCommands.Defrag());
        root.Subcommands.Add(PlanCommands.Balance());
        root.Subcommands.Add(PowerCommands.Build());
        AddExitCodesToHelp(root);
        return root;
    }

    /// <summary>Makes the root command's help end with the exit-code table (<c>omig</c>, <c>omig-demo</c>, <c>omig-bench</c>).</summary>
    public static void AddExitCodesToHelp(RootCommand root)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpWithExitCodes((HelpAction)help.Action!);
    }

    /// <summary>Parses and runs <paramref name="args"/> against <paramref name="root"/>: a parse error prints
    /// <c>omig: error: …</c> and where to find usage (<paramref name="helpCommand"/>), exit 2.</summary>
    public static async Task<int> RunAsync(RootCommand root, string[] args, string helpCommand)
    {
        // Piped output has no terminal width; tables would wrap at 80 columns and split ids.
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 200;
        }

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                Console.Error.WriteLine($"omig: error: {error.Message}");
            }

            Console.Error.WriteLine($"Run '{helpCommand}' for usage.");
            return ExitCodes.InvalidInput;
        }

        return await parse.InvokeAsync();
    }

    /// <summary>The standard help, followed by the exit codes on the root command's help.</summary>
    private sealed class HelpWithExitCodes(HelpAction inner) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var code = inner.Invoke(parseResult);
            if (parseResult.CommandResult.Command is RootCommand)
            {
                var output = parseResult.InvocationConfiguration.Output;
                foreach (var line in ExitCodes.HelpLines())
                {
                    output.WriteLine(line);
                }

                output.WriteLine();
            }

            return code;
        }
    }
}
