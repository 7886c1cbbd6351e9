using Npgsql;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Security;
using OrleansMigrate.Tests.Hosting;

namespace OrleansMigrate.Tests.Cluster;

/// <summary>
/// How an <c>omig-silo</c> process starts, as an operator sees it: one line and an exit code for what can never work,
/// a wait with a line saying so for a database that is down, secrets kept off the command line, configuration keys named
/// in full; and what a client is told when it cannot connect.
/// </summary>
[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Postgres)]
public sealed class SiloStartupTests(PostgresFixture pg) : IDisposable
{
    private readonly TestCertificates _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string PasswordOf(string connectionString) => new NpgsqlConnectionStringBuilder(connectionString).Password ?? "";

    [Fact]
    public async Task A_wrong_PostgreSQL_password_stops_the_silo_with_one_line_and_exit_code_1()
    {
        var wrong = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { Password = "not-the-Password-83" }.ConnectionString;

        var (code, stdout, stderr) = await ProcessRunner.RunAsync("dotnet",
            [RepoPaths.SiloDll, "--storage", "postgres", "--connection-string", wrong, "--hosts", "h-1", "--cluster-id", "it-pw-" + Guid.NewGuid().ToString("N")[..8]],
            TimeSpan.FromMinutes(2));

        Assert.True(code == 1, $"exit {code}\n{stdout}\n{stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("omig-silo: failed to start: 28P01", line, StringComparison.Ordinal);
        Assert.Equal("", stdout.Trim());
        Assert.DoesNotContain("not-the-Password-83", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silo_started_while_PostgreSQL_refuses_it_says_it_waits_and_comes_up_when_the_database_does()
    {
        // The database refuses the silo's logins ("too many connections", 53300) until the test lets them in again: the
        // way a saturated or recovering server answers, without giving up the server's port to another process
        // meanwhile (stopping and restarting it on this shared machine raced with other tests' servers for the port).
        await using var db = await PrivatePostgres.StartAsync(Path.Combine(Path.GetTempPath(), "omig-it-pgwait-" + Guid.NewGuid().ToString("N")[..8]));
        await db.SqlAsSuperuserAsync("ALTER ROLE omig CONNECTION LIMIT 0");
        var clusterId = "it-wait-" + Guid.NewGuid().ToString("N")[..8];
        await using var silo = new SiloProcess("silo-w", "all", "h-1", db.ConnectionString, clusterId);

        var starting = silo.StartAsync();
        await silo.WaitForOutputAsync("waiting for the database", TimeSpan.FromSeconds(60));
        await db.SqlAsSuperuserAsync("ALTER ROLE omig CONNECTION LIMIT -1");
        await starting;

        Assert.Contains("omig-silo silo-w up:", silo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("failed to start", silo.Output, StringComparison.Ordinal);
        await using var client = await OmigClient.ConnectAsync(new OmigClientOptions
        {
            PostgresConnectionString = db.ConnectionString, ClusterId = clusterId, ServiceId = clusterId, ConnectTimeout = TimeSpan.FromSeconds(30),
        });
        Assert.Empty(await client.ListHostsAsync().WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Secrets_come_from_an_owner_only_file_or_the_environment_and_never_show_in_the_process_list()
    {
        var password = PasswordOf(pg.ConnectionString);
        Assert.True(password.Length > 3, "the test database needs a password");
        var file = _dir.PathOf("pg.secret");
        File.WriteAllText(file, pg.ConnectionString + "\n");

        // Readable by others: refused naming the key, the secret not quoted.
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var (code, stdout, stderr) = await ProcessRunner.RunAsync("dotnet",
            [RepoPaths.SiloDll, "--storage", "postgres", "--connection-string-file", file, "--hosts", "h-1"], TimeSpan.FromMinutes(1));
        Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("Omig:ConnectionStringFile: ", stderr, StringComparison.Ordinal);
        Assert.Contains("readable by other users (mode 0644)", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(password, stdout + stderr, StringComparison.Ordinal);

        // Mode 0600: the silo comes up, and its command line holds no password.
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var clusterId = "it-secret-" + Guid.NewGuid().ToString("N")[..8];
        await using var fromFile = new SiloProcess("silo-f", "all", "h-1", ["--connection-string-file", file], null, clusterId);
        await fromFile.StartAsync();
        Assert.DoesNotContain(password, await File.ReadAllTextAsync($"/proc/{fromFile.Pid}/cmdline"), StringComparison.Ordinal);

        // The environment works as well (the README's runbooks use it).
        await using var fromEnv = new SiloProcess("silo-e", "all", "h-2", [], new Dictionary<string, string> { ["Omig__ConnectionString"] = pg.ConnectionString }, clusterId);
        await fromEnv.StartAsync();
        Assert.DoesNotContain(password, await File.ReadAllTextAsync($"/proc/{fromEnv.Pid}/cmdline"), StringComparison.Ordinal);

        // A TLS client against this plaintext cluster is told the gateways may not run TLS, not about client certificates.
        var ca = _dir.MakeCa("ca");
        _dir.MakeLeaf(ca, "client", null);
        var tls = new OmigTlsOptions { Certificate = _dir.PathOf("client.pfx"), CaCertificate = _dir.PathOf("ca.pem") };
        var refused = await Assert.ThrowsAsync<OmigException>(() => OmigClient.ConnectAsync(new OmigClientOptions
        {
            PostgresConnectionString = pg.ConnectionString, ClusterId = clusterId, ServiceId = clusterId, Tls = tls, ConnectTimeout = TimeSpan.FromSeconds(20),
        }).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(OmigErrorCode.Unavailable, refused.Code);
        Assert.Contains("TLS", refused.Message, StringComparison.Ordinal);
        Assert.False(refused.Message.Contains("client certificate", StringComparison.Ordinal), refused.Message);

        // --help says why next to the switches.
        var (helpCode, help, _) = await ProcessRunner.RunAsync("dotnet", [RepoPaths.SiloDll, "--help"], TimeSpan.FromMinutes(1));
        Assert.Equal(0, helpCode);
        Assert.Contains("--connection-string-file PATH", help, StringComparison.Ordinal);
        Assert.Contains("process list", help, StringComparison.Ordinal);
        Assert.Contains("--tls-password-file PATH", help, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Omig:Bogus=1", "Omig:Bogus")]
    [InlineData("--Omig:Tls:Bogus=1", "Omig:Tls:Bogus")]
    [InlineData("--Omig:Qemu:Bogus=1", "Omig:Qemu:Bogus")]
    public async Task An_unknown_configuration_key_is_named_in_full(string arg, string key)
    {
        var (code, stdout, stderr) = await ProcessRunner.RunAsync("dotnet", [RepoPaths.SiloDll, arg], TimeSpan.FromMinutes(1));

        Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains($"unknown setting {key} ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("OrleansMigrate.", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_without_TLS_that_finds_no_silo_is_not_told_about_mutual_TLS()
    {
        var clusterId = "it-none-" + Guid.NewGuid().ToString("N")[..8];

        var ex = await Assert.ThrowsAsync<OmigException>(() => OmigClient.ConnectAsync(new OmigClientOptions
        {
            PostgresConnectionString = pg.ConnectionString, ClusterId = clusterId, ServiceId = clusterId, ConnectTimeout = TimeSpan.FromSeconds(10),
        }).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Equal(OmigErrorCode.Unavailable, ex.Code);
        Assert.False(ex.Message.Contains("TLS", StringComparison.Ordinal), ex.Message);
        Assert.True(ex.Message.Contains("no silo", StringComparison.Ordinal), ex.Message);
    }
}
