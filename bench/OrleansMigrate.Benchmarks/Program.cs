using OrleansMigrate.Cli;
using OrleansMigrate.Cli.Bench;

// omig-bench: what `omig bench ARGS` runs (omig hands on every argument after `bench`).
return await OmigCommandLine.RunAsync(BenchCommands.Build(), args, "omig bench --help");
