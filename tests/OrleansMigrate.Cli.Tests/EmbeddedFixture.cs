using System.Collections.Immutable;
using System.Diagnostics;
using OrleansMigrate.Cli.Demo;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Cli.Tests;

/// <summary>One embedded cluster (in-process silo, simulated hosts) shared by the tests that need records or run the real CLI.</summary>
public sealed class EmbeddedFixture : IAsyncLifetime
{
    private EmbeddedCluster? _cluster;

    public OmigClient Client => _cluster!.Client;

    public int GatewayPort => _cluster!.Options.GatewayPort;

    public async Task InitializeAsync() => _cluster = await EmbeddedCluster.StartAsync(0, CancellationToken.None);

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    /// <summary>Two hosts of their own and a VM on the first; ids unique per call.</summary>
    public async Task<(string From, string To, VmRecord Vm)> FleetAsync(long vmMemoryMiB = 4096)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var from = $"h-{id}-a";
        var to = $"h-{id}-b";
        foreach (var host in new[] { from, to })
        {
            await Client.AddHostAsync(new HostSpec(host, 32, 131072, "Xeon", ["avx"], 3, "1.0.0", "6.1.0", "7.2.0", ImmutableDictionary<string, string>.Empty));
        }

        var vmId = $"vm-{id}";
        var vm = await Client.CreateVmAsync(new VmSpec(vmId, 2, vmMemoryMiB, ["avx"], "standard", ImmutableDictionary<string, string>.Empty,
            [new DiskSpec($"{vmId}-root", 10)], [], []), from);
        return (from, to, vm);
    }

    /// <summary>Migrates the VM and waits (bounded) until the migration ends.</summary>
    public async Task<MigrationStatus> MigrateToEndAsync(string vmId, string to)
    {
        var started = await Client.MigrateAsync(new MigrationRequest(vmId, to));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        MigrationStatus? last = null;
        await foreach (var status in Client.WatchMigrationAsync(started.MigrationId, cts.Token))
        {
            last = status;
        }

        return last is { IsEnded: true } ? last : await Client.GetMigrationAsync(started.MigrationId);
    }

    /// <summary>Runs the built <c>omig</c> against this cluster; killed after 60 s.</summary>
    public async Task<(int Code, string Stdout, string Stderr)> OmigAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[RepoPaths.CliDll, "--gateway", $"{GatewayPort}", "--cluster-id", "omig-demo", .. args])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"omig {string.Join(' ', args)} did not finish within 60 s");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}

[CollectionDefinition(Name)]
public sealed class EmbeddedCollection : ICollectionFixture<EmbeddedFixture>
{
    public const string Name = "embedded";
}
