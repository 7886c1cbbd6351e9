using System.Diagnostics;
using System.Text;

namespace OrleansMigrate.Hypervisor.Linux;

/// <summary>The outcome of one <see cref="HostCommand"/> run.</summary>
/// <param name="ExitCode">The program's exit code.</param>
/// <param name="Stdout">Everything it wrote to stdout.</param>
/// <param name="Stderr">Everything it wrote to stderr, trimmed.</param>
/// <param name="Elapsed">Wall time from start to exit.</param>
public sealed record HostCommandResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed);

/// <summary>Thrown when a <see cref="HostCommand"/> exits non-zero, cannot start, or overruns its time limit.
/// The message names the command line and carries the program's own error text.</summary>
public sealed class HostCommandException : Exception
{
    public HostCommandException(string message, int exitCode, string stderr, Exception? inner = null)
        : base(message, inner)
    {
        ExitCode = exitCode;
        Stderr = stderr;
    }

    /// <summary>The exit code; -1 when the program did not start or was killed at its time limit.</summary>
    public int ExitCode { get; }

    /// <summary>What the program wrote to stderr.</summary>
    public string Stderr { get; }
}

/// <summary>
/// Runs a Linux tool (<c>ip</c>, <c>nft</c>, <c>conntrack</c>, <c>qemu-img</c> …) from an argument list — never a
/// shell, so no argument can inject another command — optionally inside a network namespace (<c>ip netns exec NS</c>),
/// with a time limit after which the process tree is killed. The one place the lab's parts start host programs.
/// </summary>
public static class HostCommand
{
    /// <summary>Default time limit of one command: 30 s.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs <paramref name="program"/> with <paramref name="arguments"/> and returns its result whatever the
    /// exit code. Throws <see cref="HostCommandException"/> only when it cannot start or overruns
    /// <paramref name="timeout"/> (default <see cref="DefaultTimeout"/>).</summary>
    /// <param name="netns">The network namespace to run in (by name, as <c>ip netns</c> knows it); null: this one.</param>
    /// <param name="stdin">Text written to the program's stdin, then closed; null: stdin closed at once.</param>
    public static async Task<HostCommandResult> TryRunAsync(string program, IReadOnlyList<string> arguments, string? netns = null,
        string? stdin = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(program);
        var psi = new ProcessStartInfo(netns is null ? program : "ip")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (netns is not null)
        {
            psi.ArgumentList.Add("netns");
            psi.ArgumentList.Add("exec");
            psi.ArgumentList.Add(netns);
            psi.ArgumentList.Add(program);
        }

        foreach (var argument in arguments)
            psi.ArgumentList.Add(argument);

        var line = Describe(program, arguments, netns);
        var limit = timeout ?? DefaultTimeout;
        var started = Stopwatch.GetTimestamp();
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new HostCommandException($"{line}: did not start", -1, string.Empty);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new HostCommandException($"{line}: cannot start {psi.FileName} ({ex.Message}); is it installed?", -1, string.Empty, ex);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            try
            {
                if (stdin is not null)
                    await process.StandardInput.WriteAsync(stdin.AsMemory(), cancellationToken).ConfigureAwait(false);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The program exited without reading its input; its exit code says why.
            }

            using var limitSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limitSource.CancelAfter(limit);
            try
            {
                await process.WaitForExitAsync(limitSource.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Already gone.
                }

                cancellationToken.ThrowIfCancellationRequested();
                throw new HostCommandException($"{line}: no exit after {limit.TotalSeconds:0.#} s; killed", -1, string.Empty);
            }

            return new HostCommandResult(process.ExitCode, await stdout.ConfigureAwait(false), (await stderr.ConfigureAwait(false)).Trim(),
                Stopwatch.GetElapsedTime(started));
        }
    }

    /// <summary>As <see cref="TryRunAsync"/>, but a non-zero exit throws <see cref="HostCommandException"/> with the
    /// command line and the program's stderr.</summary>
    public static async Task<HostCommandResult> RunAsync(string program, IReadOnlyList<string> arguments, string? netns = null,
        string? stdin = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var result = await TryRunAsync(program, arguments, netns, stdin, timeout, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            var why = result.Stderr.Length > 0 ? result.Stderr : result.Stdout.Trim();
            throw new HostCommandException($"{Describe(program, arguments, netns)}: exit {result.ExitCode}: {why}", result.ExitCode, result.Stderr);
        }

        return result;
    }

    /// <summary>Whether <paramref name="program"/> is an executable on <c>PATH</c> (or an existing absolute path).</summary>
    public static bool IsInstalled(string program)
    {
        if (Path.IsPathFullyQualified(program))
            return File.Exists(program);
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries).Any(dir => File.Exists(Path.Combine(dir, program)));
    }

    /// <summary>The command as a person would type it, for messages.</summary>
    public static string Describe(string program, IReadOnlyList<string> arguments, string? netns = null)
    {
        var text = new StringBuilder();
        if (netns is not null)
            text.Append("ip netns exec ").Append(netns).Append(' ');
        text.Append(program);
        foreach (var argument in arguments)
            text.Append(' ').Append(argument.Contains(' ', StringComparison.Ordinal) || argument.Length == 0 ? $"'{argument}'" : argument);
        return text.ToString();
    }
}
