namespace OrleansMigrate.Tests;

/// <summary>
/// A throw-away PostgreSQL of one test (tests/pg/start-private-pg.sh), which the test may crash and restart on the
/// same port: <see cref="CrashAsync"/> is <c>pg_ctl stop -m immediate</c> (every connection cut, no checkpoint).
/// </summary>
public sealed class PrivatePostgres : IAsyncDisposable
{
    private const string BinDir = "/usr/lib/postgresql/15/bin";

    private PrivatePostgres(string baseDir, string connectionString, string dataDir, string port)
    {
        BaseDir = baseDir;
        ConnectionString = connectionString;
        DataDir = dataDir;
        Port = port;
    }

    public string BaseDir { get; }

    public string ConnectionString { get; }

    public string DataDir { get; }

    public string Port { get; }

    /// <param name="baseDir">Where the server's files go.</param>
    /// <param name="durableCommits">Keeps <c>synchronous_commit</c> on (off by default, for speed): a test that crashes the
    /// server needs it, or a commit already acknowledged to a grain can be lost by the crash — a database no production
    /// cluster runs, which made the chaos test's audit find VPC flows moved back by the crash.</param>
    public static async Task<PrivatePostgres> StartAsync(string baseDir, bool durableCommits = false)
    {
        var script = Path.Combine(RepoPaths.Root, "tests/pg/start-private-pg.sh");

        // The script prints shell export lines; let bash evaluate them rather than re-implement its quoting.
        var (code, stdout, stderr) = await ProcessRunner.RunAsync("bash",
            ["-c", "eval \"$(OMIG_PG_SYNC_COMMIT=\"$2\" \"$0\" \"$1\")\" && printf '%s\\n%s\\n%s\\n' \"$OMIG_PG_CONNSTR\" \"$OMIG_PG_DATADIR\" \"$OMIG_PG_PORT\"", script, baseDir,
                durableCommits ? "on" : "off"],
            TimeSpan.FromMinutes(5));
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (code != 0 || lines.Length < 3)
        {
            throw new InvalidOperationException($"start-private-pg.sh failed ({code}): {stderr}");
        }

        return new PrivatePostgres(baseDir, lines[0], lines[1], lines[2]);
    }

    /// <summary>Stops the server the hard way: connections cut, no shutdown checkpoint (crash recovery on start).</summary>
    public Task CrashAsync() => PgCtlAsync("-D", DataDir, "-m", "immediate", "-w", "-t", "60", "stop");

    /// <summary>Starts it again on the same port and data directory.</summary>
    public Task RestartAsync() => PgCtlAsync("-D", DataDir, "-l", Path.Combine(DataDir, "server.log"), "-o", $"-p {Port}", "-w", "-t", "60", "start");

    /// <summary>Runs SQL as the superuser over the data directory's unix socket (e.g. to refuse the application's logins for a while).</summary>
    public Task SqlAsSuperuserAsync(string sql) => RunAsOwnerAsync(Path.Combine(BinDir, "psql"), "-h", DataDir, "-p", Port, "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql);

    public async ValueTask DisposeAsync() =>
        await ProcessRunner.RunAsync("bash", [Path.Combine(RepoPaths.Root, "tests/pg/stop-private-pg.sh"), DataDir], TimeSpan.FromMinutes(1));

    private Task PgCtlAsync(params string[] args) => RunAsOwnerAsync(Path.Combine(BinDir, "pg_ctl"), args);

    private static async Task RunAsOwnerAsync(string program, params string[] args)
    {
        // The server refuses to run as root: its tools run as the data directory's owner (postgres), like the scripts do.
        string[] command = Environment.UserName == "root" ? ["runuser", "-u", "postgres", "--", program, .. args] : [program, .. args];
        var (code, _, stderr) = await ProcessRunner.RunAsync(command[0], command[1..], TimeSpan.FromMinutes(2));
        if (code != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(program)} {string.Join(' ', args)} failed ({code}): {stderr}");
        }
    }
}
