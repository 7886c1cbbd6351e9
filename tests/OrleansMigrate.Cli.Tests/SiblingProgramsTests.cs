using System.Diagnostics;
using System.Reflection;
using OrleansMigrate.Cli.Commands;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig</c> is a client: the demo and the benchmarks are programs of their own (<c>omig-demo</c>,
/// <c>omig-bench</c>) that <c>omig demo</c> and <c>omig bench</c> start with the arguments that follow.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
[Collection(ConsoleCollection.Name)]
public sealed class SiblingProgramsTests
{
    [Fact]
    public void Omig_references_no_server_side_assembly_directly_or_through_our_own()
    {
        string[] serverSide = ["OrleansMigrate.Grains", "OrleansMigrate.Hypervisor", "OrleansMigrate.Api", "OrleansMigrate.ApiHost",
            "omig-demo", "omig-bench", "omig-silo", "Orleans.Runtime", "Orleans.Server", "Orleans.Reminders", "Orleans.Persistence.AdoNet",
            "Microsoft.AspNetCore"];
        var omig = typeof(OmigCommandLine).Assembly;
        Assert.Equal("omig", omig.GetName().Name);

        // omig and every assembly of ours it reaches (the client library, the abstractions), and what each references.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var referenced = new List<(string From, string Name)>();
        var pending = new Stack<Assembly>([omig]);
        while (pending.TryPop(out var assembly))
        {
            if (!seen.Add(assembly.GetName().Name!))
            {
                continue;
            }

            foreach (var reference in assembly.GetReferencedAssemblies())
            {
                referenced.Add((assembly.GetName().Name!, reference.Name!));
                if (reference.Name!.StartsWith("OrleansMigrate.", StringComparison.Ordinal))
                {
                    pending.Push(Assembly.Load(reference));
                }
            }
        }

        Assert.Contains("OrleansMigrate.Client", seen);
        var offending = referenced.Where(r => serverSide.Any(s => r.Name.Equals(s, StringComparison.Ordinal) || r.Name.StartsWith(s + ".", StringComparison.Ordinal)))
            .Select(r => $"{r.From} -> {r.Name}").ToList();
        Assert.True(offending.Count == 0, string.Join(", ", offending));
    }

    [Theory]
    [InlineData("bench qemu --help", "bench", "qemu --help")]
    [InlineData("bench", "bench", "")]
    [InlineData("demo --vms 3 --json out.json", "demo", "--vms 3 --json out.json")]
    [InlineData("--gateway 30001 demo --keep-running", "demo", "--gateway 30001 --keep-running")]
    [InlineData("--json bench api", "bench", "--json api")]
    [InlineData("--cluster-id bench bench dataplane", "bench", "--cluster-id bench dataplane")]
    public void Demo_and_bench_hand_on_every_other_argument_in_order(string args, string command, string forwarded)
    {
        var match = SiblingPrograms.Match(args.Split(' '));
        Assert.NotNull(match);
        Assert.Equal(command, match.Value.Command);
        Assert.Equal(forwarded, string.Join(' ', match.Value.Forwarded));
    }

    [Theory]
    [InlineData("host list")]
    [InlineData("vm show bench")]
    [InlineData("--help")]
    [InlineData("--help bench")]
    [InlineData("")]
    public void Other_commands_stay_with_omig(string args) =>
        Assert.Null(SiblingPrograms.Match(args.Split(' ', StringSplitOptions.RemoveEmptyEntries)));

    [Fact]
    public async Task A_missing_program_is_one_clear_error_line_and_a_failure()
    {
        var empty = Directory.CreateTempSubdirectory("omig-sibling-");
        var stderr = new StringWriter();
        var old = Console.Error;
        Console.SetError(stderr);
        int code;
        try
        {
            code = await SiblingPrograms.RunAsync("bench", ["dataplane"], empty.FullName, CancellationToken.None);
        }
        finally
        {
            Console.SetError(old);
            empty.Delete();
        }

        Assert.Equal(ExitCodes.Unexpected, code);
        var line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("omig: error: omig bench needs omig-bench.dll next to omig.dll (build bench/OrleansMigrate.Benchmarks)", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_built_omig_lists_demo_and_bench_and_shows_the_bench_trees_help()
    {
        var (code, stdout, stderr) = await RunOmigAsync("--help");
        Assert.True(code == 0, stderr);
        Assert.Contains("demo <ARGS>", stdout, StringComparison.Ordinal);
        Assert.Contains("bench <ARGS>", stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = await RunOmigAsync("bench", "--help");
        Assert.True(code == 0, stderr);
        foreach (var benchmark in new[] { "dataplane", "orchestration", "qemu", "multifd", "postcopy", "chaos", "campaign", "api" })
        {
            Assert.Contains(benchmark, stdout, StringComparison.Ordinal);
        }

        // A bench's own refusal of bad input names the option, before anything runs.
        (code, _, stderr) = await RunOmigAsync("bench", "postcopy", "--switch-after-ms", "10");
        Assert.Equal(ExitCodes.InvalidInput, code);
        Assert.Contains("--switch-after-ms", stderr, StringComparison.Ordinal);

        // omig-bench's own parse error and exit code come through.
        (code, _, stderr) = await RunOmigAsync("bench", "dataplane", "--no-such-option");
        Assert.Equal(ExitCodes.InvalidInput, code);
        Assert.Contains("--no-such-option", stderr, StringComparison.Ordinal);
        Assert.Contains("Run 'omig bench --help' for usage.", stderr, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunOmigAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[RepoPaths.CliDll, .. args])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
