using OrleansMigrate.Cli;
using OrleansMigrate.Cli.Lab;

// omig-lab: what `omig lab ARGS` runs (omig hands on every argument after `lab`).
return await OmigCommandLine.RunAsync(LabCommand.Build(), args, "omig lab --help");
