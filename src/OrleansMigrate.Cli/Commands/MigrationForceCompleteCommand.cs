using System.CommandLine;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Cli.Commands;

/// <summary>
/// <c>omig migration force-complete MIGRATION</c>: asks a migration in pre-copy to switch over now (Nova's
/// <c>force_complete</c>). A migration in any other phase is refused with <see cref="ExitCodes.NotInPreCopy"/> and the
/// grain's reason, so a script can tell "too early or too late" from a cluster error; <c>--wait</c> follows it to its end.
/// </summary>
public static class MigrationForceCompleteCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("MIGRATION") { Description = "Migration id (mig-…)" };
        var wait = new Option<bool>("--wait") { Description = "Follow the migration until it ends" };
        var cmd = new Command("force-complete", "Switch a migration in pre-copy over now, accepting a longer downtime") { id, wait };
        cmd.SetClientAction(async (parse, client, ct) =>
        {
            var migrationId = parse.GetValue(id)!;
            Migration.MigrationStatus status;
            try
            {
                status = await client.ForceCompleteMigrationAsync(migrationId, $"omig:{Environment.UserName}");
            }
            catch (OmigException ex) when (ex.Code == OmigErrorCode.Conflict)
            {
                return CommandRunner.Fail(ExitCodes.NotInPreCopy, ex.Message);
            }

            if (!parse.GetValue(wait))
            {
                CommandRunner.Print(parse, status, s => Render.Migrations([s]));
                return ExitCodes.Ok;
            }

            var final = await MigrationCommands.FollowAsync(parse, client, migrationId, ct);
            return final.Phase == Migration.MigrationPhase.Completed ? ExitCodes.Ok : ExitCodes.NotCompleted;
        });
        return cmd;
    }
}
