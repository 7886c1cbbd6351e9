namespace OrleansMigrate.Tests;

/// <summary>Where the built programs are: the tests run the real silo and CLI binaries as separate processes.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string SiloDll => Built("silo/OrleansMigrate.Silo", "omig-silo.dll");

    public static string CliDll => Built("src/OrleansMigrate.Cli", "omig.dll");

    private static string Built(string project, string dll)
    {
        foreach (var config in new[] { "Release", "Debug" })
        {
            var path = Path.Combine(Root, project, "bin", config, "net10.0", dll);
            if (File.Exists(path))
            {
                return path;
            }
        }

        throw new InvalidOperationException($"{dll} is not built: run 'dotnet build OrleansMigrate.sln -c Release' (or tests/run.sh) first");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OrleansMigrate.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("cannot find the repository root (OrleansMigrate.sln) above " + AppContext.BaseDirectory);
    }
}
