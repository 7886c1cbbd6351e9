using OrleansMigrate.Cli;
using OrleansMigrate.Cli.Demo;

// omig-demo: what `omig demo ARGS` runs (omig hands on every argument after `demo`).
return await OmigCommandLine.RunAsync(DemoCommand.Build(), args, "omig demo --help");
