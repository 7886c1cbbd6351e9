namespace OrleansMigrate.Tests.Shared;

/// <summary>The repository's root directory (the one holding OrleansMigrate.sln), found above the test's own binaries.</summary>
public static class RepoRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "OrleansMigrate.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("cannot find the repository root (OrleansMigrate.sln) above " + AppContext.BaseDirectory);
    }
}
