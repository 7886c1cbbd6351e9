using System.Collections.Immutable;
using System.CommandLine;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench …</c> (the <c>omig-bench</c> program): benchmarks that run in this process and write JSON for
/// run-to-run comparison.</summary>
public static partial class BenchCommands
{
    /// <summary>The <c>omig-bench</c> command line: the benchmarks as subcommands, and the global options.</summary>
    public static RootCommand Build()
    {
        var bench = new RootCommand("omig bench (omig-bench): benchmarks (run in Release; figures are medians and ratios measured side by side)");
        GlobalOptions.AddTo(bench);
        OmigCommandLine.AddExitCodesToHelp(bench);
        bench.Subcommands.Add(DataPlane());
        bench.Subcommands.Add(Orchestration());
        bench.Subcommands.Add(Qemu());
        bench.Subcommands.Add(Multifd());
        bench.Subcommands.Add(PostCopy());
        bench.Subcommands.Add(Lab());
        bench.Subcommands.Add(Chaos());
        bench.Subcommands.Add(Campaign());
        bench.Subcommands.Add(ApiBenchCommand.Create());
        bench.Subcommands.Add(ConntrackBenchCommand.Create());
        return bench;
    }

    /// <summary>"1000" or "1000,3000,10000": each a whole number of hosts from 2 to 20,000, no repeats.</summary>
    public static ImmutableArray<int> ParseSizes(string? text)
    {
        var parts = (text ?? "").Split(',', StringSplitOptions.TrimEntries);
        var sizes = ImmutableArray.CreateBuilder<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n is < 2 or > 20_000)
            {
                throw OmigException.Invalid("--hosts", $"must be a number of hosts between 2 and 20000, or several comma-separated; got '{part}' in '{text}'");
            }

            if (sizes.Contains(n))
            {
                throw OmigException.Invalid("--hosts", $"names {n} twice");
            }

            sizes.Add(n);
        }

        return sizes.ToImmutable();
    }

}
