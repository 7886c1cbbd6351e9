using System.Data.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Hosting;

/// <summary>A database failure under grain storage or the reminder table reaches callers as our serializable
/// <c>Unavailable</c> (field <c>storage</c>), not as a driver exception without a codec; version conflicts and other
/// failures pass through unchanged.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DatabaseErrorTranslationTests
{
    private static readonly GrainId Grain = GrainId.Create("test", "g-1");

    public static TheoryData<string, Func<Exception>, Type> Failures => new()
    {
        { "driver failure", () => new FakeDbException("connection refused", "08006"), typeof(OmigException) },
        { "driver failure wrapped", () => new InvalidOperationException("outer", new FakeDbException("too many clients", "53300")), typeof(OmigException) },
        { "version conflict", () => new InconsistentStateException("etag mismatch", "1", "2"), typeof(InconsistentStateException) },
        { "anything else", () => new ArgumentException("bad"), typeof(ArgumentException) },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task Storage_reads_writes_and_clears_translate_only_database_failures(string name, Func<Exception> failure, Type expected)
    {
        var storage = new DatabaseErrorStorage(new ThrowingStorage(failure), NullLogger<DatabaseErrorStorage>.Instance);
        var state = new GrainState<int>();
        foreach (var call in new Func<Task>[]
        {
            () => storage.ReadStateAsync("s", Grain, state),
            () => storage.WriteStateAsync("s", Grain, state),
            () => storage.ClearStateAsync("s", Grain, state),
        })
        {
            var ex = await Assert.ThrowsAnyAsync<Exception>(call);
            Assert.True(ex.GetType() == expected, $"{name}: {ex.GetType().Name}");
            if (ex is OmigException om)
            {
                Assert.Equal(OmigErrorCode.Unavailable, om.Code);
                Assert.Equal("storage", om.Field);
                Assert.Contains("SQLSTATE", om.Message, StringComparison.Ordinal);
                Assert.Contains("try again", om.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Storage_calls_that_succeed_pass_straight_through()
    {
        var inner = new ThrowingStorage(null);
        var storage = new DatabaseErrorStorage(inner, NullLogger<DatabaseErrorStorage>.Instance);
        var state = new GrainState<int>();
        await storage.ReadStateAsync("s", Grain, state);
        await storage.WriteStateAsync("s", Grain, state);
        await storage.ClearStateAsync("s", Grain, state);
        Assert.Equal(["read", "write", "clear"], inner.Calls);
    }

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task Reminder_table_calls_translate_only_database_failures(string name, Func<Exception> failure, Type expected)
    {
        IReminderTable table = new DatabaseErrorReminderTable(new ThrowingReminderTable(failure));
        var entry = new ReminderEntry { GrainId = Grain, ReminderName = "r", Period = TimeSpan.FromMinutes(1) };
        foreach (var call in new Func<Task>[]
        {
            () => table.StartAsync(),
            () => table.ReadRows(Grain),
            () => table.ReadRows(Grain, CancellationToken.None),
            () => table.ReadRows(1u, 2u),
            () => table.ReadRows(1u, 2u, CancellationToken.None),
            () => table.ReadRow(Grain, "r"),
            () => table.ReadRow(Grain, "r", CancellationToken.None),
            () => table.UpsertRow(entry),
            () => table.UpsertRow(entry, CancellationToken.None),
            () => table.RemoveRow(Grain, "r", "1"),
            () => table.RemoveRow(Grain, "r", "1", CancellationToken.None),
        })
        {
            var ex = await Assert.ThrowsAnyAsync<Exception>(call);
            Assert.True(ex.GetType() == expected, $"{name}: {ex.GetType().Name}");
            if (ex is OmigException om)
            {
                Assert.Equal(OmigErrorCode.Unavailable, om.Code);
                Assert.Equal("storage", om.Field);
            }
        }
    }

    [Fact]
    public async Task The_reminder_table_forwards_every_call_and_its_answer()
    {
        var inner = new ThrowingReminderTable(null);
        IReminderTable table = new DatabaseErrorReminderTable(inner);
        var entry = new ReminderEntry { GrainId = Grain, ReminderName = "r", Period = TimeSpan.FromMinutes(1) };
        Assert.Equal("7", await table.UpsertRow(entry));
        Assert.True(await table.RemoveRow(Grain, "r", "7"));
        Assert.Single((await table.ReadRows(Grain)).Reminders);
        Assert.Equal("r", (await table.ReadRow(Grain, "r"))?.ReminderName);
        await table.StartAsync();
        await table.StopAsync();
        Assert.Equal(["upsert", "remove", "read-grain", "read-row", "start", "stop"], inner.Calls);
    }

    /// <summary>The error the caller gets is one the cluster can send: Orleans' serializer copies it.</summary>
    [Fact]
    public async Task The_translated_error_survives_orleans_serialization()
    {
        await using var services = new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(OmigException).Assembly)).BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var storage = new DatabaseErrorStorage(new ThrowingStorage(() => new FakeDbException("the database system is shutting down", "57P03")), NullLogger<DatabaseErrorStorage>.Instance);
        var ex = await Assert.ThrowsAsync<OmigException>(() => storage.ReadStateAsync("s", Grain, new GrainState<int>()));
        var copy = serializer.Deserialize<Exception>(serializer.SerializeToArray<Exception>(ex));
        var om = Assert.IsType<OmigException>(copy);
        Assert.Equal(OmigErrorCode.Unavailable, om.Code);
        Assert.Contains("57P03", om.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_postgres_silo_gives_grains_the_translating_storage_and_reminder_table()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        var silo = new FakeSiloBuilder(services);
        silo.AddOmigPostgresStorage("Host=127.0.0.1;Port=1;Database=x;Username=x;Password=x");
        Assert.Contains(services, d => d.ServiceType == typeof(IGrainStorage) && d.IsKeyedService && Equals(d.ServiceKey, StorageNames.Fleet));
        Assert.Contains(services, d => d.ServiceType == typeof(IGrainStorage) && d.IsKeyedService && Equals(d.ServiceKey, StorageNames.FleetDatabase));
        var tables = services.Where(d => d.ServiceType == typeof(IReminderTable) && !d.IsKeyedService).ToList();
        Assert.Single(tables);
        using var sp = services.BuildServiceProvider();
        Assert.IsType<DatabaseErrorReminderTable>(tables[0].ImplementationFactory!(sp));
    }

    private sealed class FakeSiloBuilder(IServiceCollection services) : ISiloBuilder
    {
        public IServiceCollection Services => services;

        public Microsoft.Extensions.Configuration.IConfiguration Configuration { get; } = new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build();
    }

    private sealed class FakeDbException(string message, string sqlState) : DbException(message)
    {
        public override string SqlState => sqlState;
    }

    private sealed class ThrowingStorage(Func<Exception>? failure) : IGrainStorage
    {
        public List<string> Calls { get; } = [];

        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => Call("read");

        public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => Call("write");

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => Call("clear");

        private Task Call(string what)
        {
            Calls.Add(what);
            return failure is null ? Task.CompletedTask : Task.FromException(failure());
        }
    }

    private sealed class ThrowingReminderTable(Func<Exception>? failure) : IReminderTable
    {
        public List<string> Calls { get; } = [];

        public Task StartAsync(CancellationToken cancellationToken = default) => Answer("start", 0);

        public Task StopAsync(CancellationToken cancellationToken = default) => Answer("stop", 0);

        public Task<ReminderTableData> ReadRows(GrainId grainId) =>
            Answer("read-grain", new ReminderTableData(new ReminderEntry { GrainId = grainId, ReminderName = "r" }));

        public Task<ReminderTableData> ReadRows(uint begin, uint end) => Answer("read-range", new ReminderTableData());

        public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName) =>
            Answer<ReminderEntry?>("read-row", new ReminderEntry { GrainId = grainId, ReminderName = reminderName });

        public Task<string?> UpsertRow(ReminderEntry entry) => Answer<string?>("upsert", "7");

        public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag) => Answer("remove", true);

        public Task TestOnlyClearTable() => Answer("clear", 0);

        private Task<T> Answer<T>(string what, T value)
        {
            Calls.Add(what);
            return failure is null ? Task.FromResult(value) : Task.FromException<T>(failure());
        }
    }
}

/// <summary>A silo's PostgreSQL pool is capped (<see cref="OmigSiloOptions.DatabaseMaxConnections"/>) unless the connection
/// string caps it itself.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class PostgresConnectionsTests
{
    [Theory]
    [InlineData("Host=db;Database=x;Username=u", 20, 20)]
    [InlineData("Host=db;Database=x;Username=u", 7, 7)]
    [InlineData("Host=db;Database=x;Username=u;Maximum Pool Size=50", 20, 50)]
    [InlineData("Host=db;Database=x;Username=u;maximum pool size=5", 20, 5)]
    [InlineData("Host=db;Database=x;Username=u;MaxPoolSize=9", 20, 9)]
    public void The_pool_is_capped_unless_the_connection_string_says_otherwise(string connectionString, int max, int expected) =>
        Assert.Equal(expected, new Npgsql.NpgsqlConnectionStringBuilder(PostgresConnections.Bounded(connectionString, max)).MaxPoolSize);

    [Fact]
    public void Membership_has_a_pool_of_its_own()
    {
        var storage = PostgresConnections.Bounded("Host=db;Database=x;Username=u", 20);
        var membership = new Npgsql.NpgsqlConnectionStringBuilder(PostgresConnections.ForMembership("Host=db;Database=x;Username=u;Application Name=api"));
        Assert.NotEqual(storage, membership.ConnectionString);
        Assert.Equal("api-membership", membership.ApplicationName);
        Assert.Equal(PostgresConnections.MembershipConnections, membership.MaxPoolSize);
    }

    [Fact]
    public void A_minimum_pool_above_the_cap_comes_down_to_it() =>
        Assert.Equal(4, new Npgsql.NpgsqlConnectionStringBuilder(PostgresConnections.Bounded("Host=db;Minimum Pool Size=10", 4)).MinPoolSize);

    [Theory]
    [InlineData(1)]
    [InlineData(1001)]
    public void A_cap_out_of_range_is_refused_naming_the_key(int max) =>
        Assert.Contains(OmigSiloOptionsValidator.Check(new OmigSiloOptions { DatabaseMaxConnections = max }),
            e => e.StartsWith("Omig:DatabaseMaxConnections:", StringComparison.Ordinal));
}
