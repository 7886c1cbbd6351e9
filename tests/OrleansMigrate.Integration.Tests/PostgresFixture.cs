namespace OrleansMigrate.Tests;

/// <summary>
/// A PostgreSQL with our schema. Uses <c>OMIG_PG_CONNSTR</c> when tests/run.sh provides one; otherwise
/// starts a private server with tests/pg/start-private-pg.sh and stops it afterwards, so this project
/// also runs on its own.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private string? _ownedDir;
    private string? _dataDir;

    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable("OMIG_PG_CONNSTR") is { Length: > 0 } cs)
        {
            ConnectionString = cs;
            return;
        }

        _ownedDir = Path.Combine(Path.GetTempPath(), "omig-it-pg-" + Guid.NewGuid().ToString("N")[..8]);
        var script = Path.Combine(RepoPaths.Root, "tests/pg/start-private-pg.sh");

        // The script prints shell export lines; let bash evaluate them rather than re-implement its quoting.
        var (code, stdout, stderr) = await ProcessRunner.RunAsync("bash",
            ["-c", "eval \"$(\"$0\" \"$1\")\" && printf '%s\\n%s\\n' \"$OMIG_PG_CONNSTR\" \"$OMIG_PG_DATADIR\"", script, _ownedDir],
            TimeSpan.FromMinutes(5));
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (code != 0 || lines.Length < 2)
        {
            throw new InvalidOperationException($"start-private-pg.sh failed ({code}): {stderr}");
        }

        ConnectionString = lines[0];
        _dataDir = lines[1];
    }

    public async Task DisposeAsync()
    {
        if (_dataDir is not null)
        {
            await ProcessRunner.RunAsync("bash", [Path.Combine(RepoPaths.Root, "tests/pg/stop-private-pg.sh"), _dataDir], TimeSpan.FromMinutes(1));
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
