using System.Diagnostics;

namespace OrleansMigrate.Hypervisor.Tests.Support;

/// <summary>Processes a test environment owns, found by a mark in their command line (the environment's private root
/// directory, which their sockets and images live in) — never by a broad name.</summary>
internal static class OwnedProcesses
{
    /// <summary>SIGKILLs every process (but this one) whose command line contains <paramref name="mark"/>, and waits for it.</summary>
    public static void Kill(string mark)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(mark);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
                continue;
            string cmdline;
            try
            {
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (!cmdline.Contains(mark, StringComparison.Ordinal))
                continue;
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
                process.WaitForExit(5_000);
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Gone already.
            }
        }
    }
}
