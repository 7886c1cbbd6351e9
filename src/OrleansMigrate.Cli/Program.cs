using System.CommandLine;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Cli.Demo;

var root = new RootCommand("omig: the OrleansMigrate operator CLI — fleet registry, live migration, fleet operations");
GlobalOptions.AddTo(root);
root.Subcommands.Add(ClusterCommands.Build());
root.Subcommands.Add(HostCommands.Build());
root.Subcommands.Add(VmCommands.Build());
root.Subcommands.Add(DemoCommand.Build());

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
