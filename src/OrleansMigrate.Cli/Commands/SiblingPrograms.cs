using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace OrleansMigrate.Cli.Commands;

/// <summary><c>omig demo …</c> and <c>omig bench …</c>: programs of their own (<c>omig-demo</c>, <c>omig-bench</c>, which
/// hold the server side: the embedded cluster, the benchmarks), so that <c>omig</c> references the client library only.
/// Both are built into <c>omig</c>'s own directory; <c>omig</c> starts the one named with the same <c>dotnet</c> host and
/// every argument but the command's name (so <c>omig bench qemu --help</c> prints the bench tree's help), standard
/// input, output and error inherited, and passes its exit code through.</summary>
public static partial class SiblingPrograms
{
    /// <summary>The commands run by another program, and its assembly, e.g. <c>bench</c> → <c>omig-bench</c>.</summary>
    public static IReadOnlyDictionary<string, (string Assembly, string Project, string Description)> Commands { get; } =
        new Dictionary<string, (string, string, string)>(StringComparer.Ordinal)
        {
            ["demo"] = ("omig-demo", "src/OrleansMigrate.Demo",
                "Start the embedded cluster in-process with a simulated fleet and show it (--json PATH writes a summary); runs omig-demo"),
            ["bench"] = ("omig-bench", "bench/OrleansMigrate.Benchmarks",
                "Benchmarks (run in Release; figures are medians and ratios measured side by side); runs omig-bench"),
            ["lab"] = ("omig-lab", "src/OrleansMigrate.LabCli",
                "The real-Linux lab on this machine (up, down, status): hosts in network namespaces, a VXLAN VPC, NBD cloud disks; runs omig-lab"),
        };

    /// <summary>Global options that take a value, so the token after them is not a command's name. <c>--json</c> takes
    /// an optional one and is not among them: <c>omig --json bench …</c> is the bench command.</summary>
    private static readonly HashSet<string> ValueOptions = new(StringComparer.Ordinal)
    {
        "--gateway", "--postgres", "--cluster-id", "--tls-cert", "--tls-key", "--tls-password", "--tls-ca", "--connect-timeout",
    };

    /// <summary>When <paramref name="args"/> name one of <see cref="Commands"/> as the command (after global options
    /// only), that command and the arguments to hand on: every argument but the command's name, in order.</summary>
    public static (string Command, string[] Forwarded)? Match(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (Commands.ContainsKey(arg))
            {
                return (arg, [.. args.Take(i), .. args.Skip(i + 1)]);
            }

            if (!arg.StartsWith('-') || arg is "-h" or "--help" or "-?" or "/?" or "--version")
            {
                return null;
            }

            if (ValueOptions.Contains(arg))
            {
                i++;
            }
        }

        return null;
    }

    /// <summary>The stand-in commands <c>omig --help</c> lists; each runs its program with the tokens it was given.</summary>
    public static IEnumerable<Command> StandIns()
    {
        foreach (var (name, (_, _, description)) in Commands)
        {
            var rest = new Argument<string[]>("ARGS") { Description = "Passed to " + Commands[name].Assembly, Arity = ArgumentArity.ZeroOrMore };
            var command = new Command(name, description) { rest };
            command.TreatUnmatchedTokensAsErrors = false;
            command.SetAction((parse, ct) => RunAsync(name, [.. parse.GetValue(rest) ?? [], .. parse.UnmatchedTokens], AppContext.BaseDirectory, ct));
            yield return command;
        }
    }

    /// <summary>Runs <c>dotnet DIR/omig-COMMAND.dll ARGS</c> with this process's standard streams and returns its exit code;
    /// when the program is missing, one line on standard error and <see cref="ExitCodes.Unexpected"/>. SIGINT, SIGTERM and
    /// SIGQUIT are handed to the child (which ends the way it would on its own) rather than ending this process first;
    /// <paramref name="ct"/> cancelled kills the child and its processes.</summary>
    public static async Task<int> RunAsync(string command, IReadOnlyList<string> args, string directory, CancellationToken ct)
    {
        var (assembly, project, _) = Commands[command];
        var dll = Path.Combine(directory, assembly + ".dll");
        if (!File.Exists(dll))
        {
            return CommandRunner.Fail(ExitCodes.Unexpected,
                $"omig {command} needs {assembly}.dll next to omig.dll (build {project}); not found: {dll}");
        }

        var psi = new ProcessStartInfo(DotnetHost()) { UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        using var child = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {psi.FileName}");
        var registrations = new List<PosixSignalRegistration>();
        if (!OperatingSystem.IsWindows())
        {
            foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT })
            {
                registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    // The child decides how to end. A terminal's Ctrl-C reaches the whole process group, the child too;
                    // one more SIGINT only repeats what it already knows.
                    context.Cancel = true;
                    Forward(child, context.Signal);
                }));
            }
        }

        try
        {
            await child.WaitForExitAsync(ct);
            return child.ExitCode;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync(CancellationToken.None);
            return ExitCodes.Cancelled;
        }
        finally
        {
            foreach (var registration in registrations)
            {
                registration.Dispose();
            }
        }
    }

    /// <summary>The <c>dotnet</c> running this program when it is one (<c>dotnet omig.dll</c>), else <c>dotnet</c> on the PATH.</summary>
    public static string DotnetHost() =>
        Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase) ? path : "dotnet";

    private static void Forward(Process child, PosixSignal signal)
    {
        try
        {
            if (child.HasExited)
            {
                return;
            }

            var number = signal switch { PosixSignal.SIGINT => 2, PosixSignal.SIGQUIT => 3, _ => 15 };
            if (Kill(child.Id, number) != 0)
            {
                child.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
