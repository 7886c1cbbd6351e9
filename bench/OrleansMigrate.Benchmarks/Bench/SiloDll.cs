using OrleansMigrate.Errors;

namespace OrleansMigrate.Cli.Bench;

/// <summary>Finds <c>omig-silo.dll</c> for the benchmarks that start silo processes.</summary>
public static class SiloDll
{
    public const string FileName = "omig-silo.dll";

    /// <summary><paramref name="given"/> (<c>--silo-dll</c>) when set; else next to <c>omig.dll</c>; else the repository's
    /// Release (then Debug) build of <c>silo/OrleansMigrate.Silo</c>, found above this program or the working directory.</summary>
    public static string Find(string? given)
    {
        if (!string.IsNullOrWhiteSpace(given))
        {
            return File.Exists(given) ? Path.GetFullPath(given) : throw OmigException.Invalid("--silo-dll", $"'{given}' does not exist");
        }

        var tried = new List<string> { Path.Combine(AppContext.BaseDirectory, FileName) };
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "OrleansMigrate.sln")))
                {
                    tried.AddRange(new[] { "Release", "Debug" }.Select(c => Path.Combine(dir.FullName, "silo", "OrleansMigrate.Silo", "bin", c, "net10.0", FileName)));
                    break;
                }
            }
        }

        return tried.FirstOrDefault(File.Exists)
            ?? throw OmigException.Invalid("--silo-dll", $"cannot find {FileName} (looked at {string.Join(", ", tried.Distinct())}); build it with "
                + "'dotnet build OrleansMigrate.sln -c Release' or give --silo-dll PATH");
    }
}
