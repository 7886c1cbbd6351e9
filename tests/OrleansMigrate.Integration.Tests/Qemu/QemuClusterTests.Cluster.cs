namespace OrleansMigrate.Tests.Qemu;

/// <summary>The cluster the tests run on: a control silo and two QEMU host silos, each its own process.</summary>
public sealed partial class QemuClusterTests
{
    /// <summary>A control silo and two QEMU host silos (q-1, q-2), each a separate omig-silo process, on one PostgreSQL cluster id.</summary>
    private sealed class QemuCluster : IAsyncDisposable
    {
        private readonly List<SiloProcess> _silos = [];
        private string _connectionString = "";
        private string _clusterId = "";
        private string[] _qemuArgs = [];
        private readonly string _runtimeDir = Path.Combine(Path.GetTempPath(), $"omqr-{Guid.NewGuid():N}"[..16]);

        public OmigCli Cli { get; private set; } = null!;

        public static async Task<QemuCluster> StartAsync(string connectionString)
        {
            var cluster = new QemuCluster();
            var clusterId = "qm-" + Guid.NewGuid().ToString("N")[..10];
            string[] qemu = ["--driver", "qemu", "--qemu-image-dir", Images.Value.Dir, "--qemu-runtime-dir", cluster._runtimeDir, "--Omig:Qemu:AllowHumanMonitor=true"];
            if (Environment.GetEnvironmentVariable("OMIG_QEMU_BINARY") is { Length: > 0 } binary)
            {
                qemu = [.. qemu, "--qemu-binary", binary];
            }

            (cluster._connectionString, cluster._clusterId, cluster._qemuArgs) = (connectionString, clusterId, qemu);
            qemu = [.. qemu, .. HoldPolicyArgs];
            cluster._silos.Add(new SiloProcess("ctl", "control", "", connectionString, clusterId, HoldPolicyArgs));
            cluster._silos.Add(new SiloProcess("hq-1", "host", "q-1", connectionString, clusterId, qemu));
            cluster._silos.Add(new SiloProcess("hq-2", "host", "q-2", connectionString, clusterId, qemu));
            try
            {
                await Task.WhenAll(cluster._silos.Select(s => s.StartAsync()));
                cluster.Cli = new OmigCli(connectionString, clusterId);
                await cluster.Cli.JsonAsync("host", "add", "q-1", "--cores", "8", "--memory", "8G");
                await cluster.Cli.JsonAsync("host", "add", "q-2", "--cores", "8", "--memory", "8G");
                return cluster;
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        /// <summary>Stops host silo <paramref name="index"/> (0 = q-1) gracefully and starts it again.</summary>
        public async Task RestartHostSiloAsync(int index)
        {
            var old = _silos[index + 1];
            await old.StopAsync();
            await old.DisposeAsync();
            var fresh = new SiloProcess(old.Name, "host", $"q-{index + 1}", _connectionString, _clusterId, _qemuArgs);
            _silos[index + 1] = fresh;
            await fresh.StartAsync();
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var silo in Enumerable.Reverse(_silos))
            {
                await silo.StopAsync();
                await silo.DisposeAsync();
            }

            // A host silo leaves its guests running when it stops (the next agent adopts them): this test's are
            // stopped here, found by their sockets in this cluster's runtime directory.
            await ProcessRunner.RunAsync("pkill", ["-KILL", "-f", _runtimeDir], TimeSpan.FromSeconds(10));

            try
            {
                Directory.Delete(_runtimeDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
