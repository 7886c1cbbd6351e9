using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace OrleansMigrate.Cli.Bench;

/// <summary>
/// <c>omig bench campaign --hosts 1000,3000,10000</c>: the same campaign at each fleet size, each in a fresh process of
/// this same <c>omig</c> (so one size's heap, grains and JIT state never flatter or burden the next), side by side in
/// one JSON: whether a migration's cost, building the fleet and the memory per VM stay flat as the fleet grows.
/// </summary>
public sealed class CampaignSizesBenchmark(ImmutableArray<int> sizes, CampaignBenchmarkOptions options, Action<string> log)
{
    /// <summary>The largest size's rate may be at most this much below the smallest's.</summary>
    public const double RateDropLimit = 0.20;

    /// <summary>Building the fleet is "linear" when its time per VM at any size stays within this factor of the smallest's.</summary>
    public const double SetupPerVmLimit = 1.25;

    /// <summary>Memory per VM at any size within this factor of the smallest's (±20 %).</summary>
    public const double MemoryPerVmLimit = 0.20;

    public async Task<CampaignSizesResult> RunAsync(CancellationToken ct)
    {
        var rows = ImmutableArray.CreateBuilder<CampaignSizeRow>();
        foreach (var hosts in sizes)
        {
            var json = Path.Combine(Path.GetTempPath(), $"omig-bench-campaign-{Environment.ProcessId}-{hosts}.json");
            try
            {
                var result = await RunChildAsync(hosts, json, ct);
                rows.Add(new CampaignSizeRow(result.Hosts, result.Vms, result.SetupS, result.MigrationsPerS, result.MigrationWallMsP50, result.PeakMemMb,
                    result.MemBytesPerVm, result.MemBytesPerHost, result.VmsLost, result.InvariantViolations, result.HostsUpgraded, result.Migrations,
                    result.WallS, result.PhaseWallMsP50));
                log($"{hosts} hosts: {result.MigrationsPerS:0.0} migrations/s, setup {result.SetupS:0.0} s, {result.MemBytesPerVm:0} bytes/VM, "
                    + $"{result.VmsLost} lost, {result.InvariantViolations} violations");
            }
            finally
            {
                File.Delete(json);
            }
        }

        return Judge(rows.ToImmutable());
    }

    /// <summary>The targets of the scale issue over the rows (smallest fleet first).</summary>
    public static CampaignSizesResult Judge(ImmutableArray<CampaignSizeRow> rows)
    {
        var ordered = rows.OrderBy(r => r.Hosts).ToImmutableArray();
        var first = ordered[0];
        var last = ordered[^1];
        var rateRatio = first.MigrationsPerS > 0 ? Math.Round(last.MigrationsPerS / first.MigrationsPerS, 3) : 0;
        var setupPerVm = ordered.Select(r => r.SetupS / Math.Max(1, r.Vms)).ToList();
        var setupRatio = setupPerVm[0] > 0 ? Math.Round(setupPerVm.Max() / setupPerVm[0], 3) : 0;
        var memRatios = ordered.Select(r => first.MemBytesPerVm > 0 ? r.MemBytesPerVm / first.MemBytesPerVm : 0).ToList();
        var memSpread = Math.Round(memRatios.Max(m => Math.Abs(m - 1)), 3);
        var met = ordered.All(r => r.MigrationsPerS >= 200 && r.VmsLost == 0 && r.InvariantViolations == 0 && r.HostsUpgraded == r.Hosts)
                  && rateRatio >= 1 - RateDropLimit && setupRatio <= SetupPerVmLimit && memSpread <= MemoryPerVmLimit;
        return new CampaignSizesResult(ordered, rateRatio, setupRatio, memSpread, met,
            DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), Environment.ProcessorCount);
    }

    private async Task<CampaignBenchmarkResult> RunChildAsync(int hosts, string json, CancellationToken ct)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this process's executable");
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            // Run as `dotnet omig.dll`: the child is the same assembly.
            start.FileName = self;
            start.ArgumentList.Add(typeof(CampaignSizesBenchmark).Assembly.Location);
        }
        else
        {
            start.FileName = self;
        }

        foreach (var arg in new[]
                 {
                     "bench", "campaign", "--hosts", $"{hosts}", "--vms-per-host", $"{options.VmsPerHost}", "--batch", $"{options.Batch}",
                     "--max-parallel-migrations", $"{options.MaxParallelMigrations}",
                     "--acceleration", options.TimeAcceleration.ToString(CultureInfo.InvariantCulture), "--driver", options.Driver,
                     "--skip-defrag", "--skip-preflight", "--json", json,
                 })
        {
            start.ArgumentList.Add(arg);
        }

        if (options.AllowDoubleMoves)
        {
            start.ArgumentList.Add("--allow-double-moves");
        }

        using var child = Process.Start(start) ?? throw new InvalidOperationException("could not start the benchmark's child process");
        var stdout = child.StandardOutput.ReadToEndAsync(ct);
        string? line;
        while ((line = await child.StandardError.ReadLineAsync(ct)) is not null)
        {
            log($"[{hosts}] {line}");
        }

        try
        {
            await child.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            throw;
        }

        _ = await stdout;
        if (!File.Exists(json))
        {
            throw new InvalidOperationException($"the {hosts}-host run exited {child.ExitCode} without a report");
        }

        return JsonSerializer.Deserialize<CampaignBenchmarkResult>(await File.ReadAllTextAsync(json, ct), Output.Json.Options)
               ?? throw new InvalidOperationException($"the {hosts}-host run wrote an empty report");
    }
}

/// <summary>One fleet size of <c>omig bench campaign --hosts A,B,C</c> (the fields first).</summary>
public sealed record CampaignSizeRow(
    int Hosts,
    int Vms,
    double SetupS,
    double MigrationsPerS,
    double MigrationWallMsP50,
    double PeakMemMb,
    double MemBytesPerVm,
    double MemBytesPerHost,
    int VmsLost,
    int InvariantViolations,
    int HostsUpgraded,
    int Migrations,
    double WallS,
    ImmutableSortedDictionary<string, double> PhaseWallMsP50);

/// <summary>The sizes side by side. <c>rate_ratio</c>: the largest fleet's migrations/s over the smallest's (target ≥ 0.8).
/// <c>setup_per_vm_ratio</c>: the largest setup time per VM over the smallest's (target ≤ 1.25: building is linear).
/// <c>mem_per_vm_spread</c>: the largest relative difference of memory per VM from the smallest fleet's (target ≤ 0.2).
/// <c>targets_met</c> adds ≥ 200 migrations/s, 0 lost, 0 violations and every host upgraded at every size.</summary>
public sealed record CampaignSizesResult(
    ImmutableArray<CampaignSizeRow> Sizes,
    double RateRatio,
    double SetupPerVmRatio,
    double MemPerVmSpread,
    bool TargetsMet,
    string MeasuredOn,
    int Cores);
