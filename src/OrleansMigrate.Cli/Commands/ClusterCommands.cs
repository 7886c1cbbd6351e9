using System.CommandLine;
using OrleansMigrate.Cli.Output;

namespace OrleansMigrate.Cli.Commands;

public static class ClusterCommands
{
    public static Command Build()
    {
        var includeDead = new Option<bool>("--all") { Description = "Also list silos declared dead" };
        var status = new Command("status", "Silos, their roles and the hosts they serve") { includeDead };
        status.SetClientAction(async (parse, client, _) =>
        {
            var silos = await client.GetSilosAsync(parse.GetValue(includeDead));
            CommandRunner.Print(parse, silos, Render.Silos);
            return ExitCodes.Ok;
        });
        return new Command("cluster", "The silo cluster") { status };
    }
}
