using System.Diagnostics;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Cli.Bench;

/// <summary>Builds our dirtying boot-sector guest with <c>guest/build.sh</c> from the source tree.</summary>
public static class GuestImage
{
    /// <summary>Finds <c>guest/build.sh</c> above the working directory or this program, builds the image into a
    /// private temporary directory and returns its path.</summary>
    public static async Task<string> BuildAsync(int pages, int delay, CancellationToken ct)
    {
        var script = new[] { Environment.CurrentDirectory, AppContext.BaseDirectory }
            .SelectMany(Ancestors)
            .Select(d => Path.Combine(d, "guest", "build.sh"))
            .FirstOrDefault(File.Exists)
            ?? throw OmigException.Invalid("--image", "no guest image given and guest/build.sh not found above the working directory: pass --image PATH");
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"omig-guest-{Environment.ProcessId}")).FullName;
        var image = Path.Combine(dir, $"dirty-guest-{pages}-{delay}.img");
        var info = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(image);
        info.ArgumentList.Add(pages.ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.ArgumentList.Add(delay.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start bash");
        var stderr = process.StandardError.ReadToEndAsync(ct);
        _ = process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromMinutes(3), ct);
        if (process.ExitCode != 0)
        {
            throw OmigException.Invalid("--image", $"guest/build.sh failed: {(await stderr).Trim()}");
        }

        return image;
    }

    private static IEnumerable<string> Ancestors(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            yield return dir.FullName;
        }
    }
}
