namespace OrleansMigrate.Tests;

/// <summary>
/// A PostgreSQL with our schema. Uses <c>OMIG_PG_CONNSTR</c> when tests/run.sh provides one; otherwise
/// starts a private server with tests/pg/start-private-pg.sh and stops it afterwards, so this project
/// also runs on its own.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PrivatePostgres? _owned;

    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable("OMIG_PG_CONNSTR") is { Length: > 0 } cs)
        {
            ConnectionString = cs;
            return;
        }

        _owned = await PrivatePostgres.StartAsync(Path.Combine(Path.GetTempPath(), "omig-it-pg-" + Guid.NewGuid().ToString("N")[..8]));
        ConnectionString = _owned.ConnectionString;
    }

    public async Task DisposeAsync()
    {
        if (_owned is not null)
        {
            await _owned.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
