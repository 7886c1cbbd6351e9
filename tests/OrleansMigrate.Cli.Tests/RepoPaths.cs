namespace OrleansMigrate.Cli.Tests;

/// <summary>The repository, and the built CLI the process tests run.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string CliDll
    {
        get
        {
            foreach (var config in new[] { "Release", "Debug" })
            {
                var path = Path.Combine(Root, "src", "OrleansMigrate.Cli", "bin", config, "net10.0", "omig.dll");
                if (File.Exists(path))
                {
                    return path;
                }
            }

            throw new InvalidOperationException("omig.dll is not built: run 'dotnet build OrleansMigrate.sln -c Release' first");
        }
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
