using System.Diagnostics;
using System.Text;

namespace OrleansMigrate.Tests;

public static class ProcessRunner
{
    /// <summary>Runs a program to completion (killed after <paramref name="timeout"/>) and returns its exit code and output.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish within {timeout}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
