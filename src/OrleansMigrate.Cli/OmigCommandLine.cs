using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using OrleansMigrate.Cli.Bench;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Cli.Demo;

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
        root.Subcommands.Add(DemoCommand.Build());
        root.Subcommands.Add(BenchCommands.Build());
        root.Subcommands.Add(AuditCommand.Build());
        root.Subcommands.Add(CampaignCommands.Build());
        root.Subcommands.Add(PolicyCommands.Build());
        root.Subcommands.Add(PlanCommands.Defrag());
        root.Subcommands.Add(PlanCommands.Balance());
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpWithExitCodes((HelpAction)help.Action!);
        return root;
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
