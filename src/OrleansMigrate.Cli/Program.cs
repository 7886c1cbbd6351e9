using OrleansMigrate.Cli;
using OrleansMigrate.Cli.Commands;

// omig demo … and omig bench … run programs of their own (omig-demo, omig-bench), every argument handed on.
if (SiblingPrograms.Match(args) is var (command, forwarded))
{
    return await SiblingPrograms.RunAsync(command, forwarded, AppContext.BaseDirectory, CancellationToken.None);
}

return await OmigCommandLine.RunAsync(OmigCommandLine.Build(), args, "omig --help");
