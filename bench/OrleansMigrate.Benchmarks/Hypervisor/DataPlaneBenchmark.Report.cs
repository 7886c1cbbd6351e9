using System.Globalization;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>Summaries per case and the targets.</summary>
public static partial class DataPlaneBenchmark
{
    private static BenchmarkCaseResult Summarise(BenchmarkCase benchCase, List<RunSample> samples)
    {
        var ok = samples.Where(s => s.Succeeded).ToList();
        double P(Func<RunSample, double> selector, double percentile) => Math.Round(Percentiles.Of([.. ok.Select(selector)], percentile), 6);
        var link = benchCase.Migration.LinkBandwidthBytesPerSecond / 1e6;
        var bulk = P(s => s.BulkBytesPerSecond / 1e6, 50);
        var note = benchCase.Note;
        if (ok.Count < samples.Count)
        {
            var failures = string.Join("; ", samples.Where(s => !s.Succeeded).Select(s => s.Detail).Distinct());
            note = $"{note}{(note is null ? "" : "; ")}{samples.Count - ok.Count} run(s) failed: {failures}";
        }

        return new BenchmarkCaseResult
        {
            Case = benchCase.Name,
            GuestMiB = benchCase.GuestMiB,
            DirtyMBps = benchCase.Workload?.DirtyMegabytesPerSecond ?? 0,
            DirtyPattern = benchCase.Workload is null ? "none" : benchCase.Workload.Pattern.ToString().ToLowerInvariant(),
            LinkMBps = link,
            Compression = benchCase.Migration.Compression.ToString().ToLowerInvariant(),
            PreLastCopy = benchCase.Migration.PreLastCopy.Enabled,
            Runs = samples.Count,
            DowntimeMsP50 = P(s => s.DowntimeMs, 50),
            DowntimeMsP99 = P(s => s.DowntimeMs, 99),
            TotalMsP50 = P(s => s.TotalMs, 50),
            BytesSent = (long)P(s => s.BytesSent, 50),
            CpuSeconds = P(s => s.CpuSeconds, 50),
            Consistent = samples.Count > 0 && samples.All(s => s.Consistent),
            DowntimeMs = [.. ok.Select(s => Math.Round(s.DowntimeMs, 3))],
            DowntimeMsMax = ok.Count > 0 ? Math.Round(ok.Max(s => s.DowntimeMs), 3) : double.NaN,
            BulkCopyMBps = bulk,
            BulkCopyLinkFraction = link > 0 ? Math.Round(bulk / link, 3) : double.NaN,
            CompressedBytes = (long)P(s => s.CompressedBytes, 50),
            CompressedRawBytes = (long)P(s => s.CompressedRawBytes, 50),
            FinalPagesP50 = P(s => s.FinalPages, 50),
            FinalWireBytesP50 = P(s => s.FinalWireBytes, 50),
            RoundsP50 = P(s => s.Rounds, 50),
            PreLastCopyMsP50 = P(s => s.PreLastCopyMs, 50),
            SwitchoverReasons = Count(ok.Select(s => s.Reason?.ToString())),
            PreLastCopyVerdicts = Count(ok.Select(s => s.FinalVerdict?.ToString())),
            DowntimeBreakdownMsP50 = ok.Count == 0
                ? new Dictionary<string, double>()
                : ok[0].Steps().Keys.ToDictionary(step => step, step => Math.Round(Percentiles.Of([.. ok.Select(s => s.Steps()[step])], 50), 3)),
            SlowestRunBreakdownMs = ok.Count == 0
                ? new Dictionary<string, double>()
                : ok.MaxBy(s => s.DowntimeMs)!.Steps().ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 3)),
            Note = note,
        };

        static Dictionary<string, int> Count(IEnumerable<string?> values) => values
            .Where(v => v is not null)
            .GroupBy(v => v!.ToLowerInvariant())
            .ToDictionary(g => g.Key, g => g.Count());
    }

    private static List<BenchmarkTarget> EvaluateTargets(List<BenchmarkCaseResult> results)
    {
        var byName = results.ToDictionary(r => r.Case);
        BenchmarkCaseResult? Get(string name) => byName.GetValueOrDefault(name);
        static string F(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
        var targets = new List<BenchmarkTarget>
        {
            new("every run consistent",
                string.Join(", ", results.Select(r => $"{r.Case}: {(r.Consistent ? "yes" : "NO")}")),
                results.All(r => r.Consistent)),
        };

        var idle = Get("idle");
        targets.Add(new("idle downtime p50 <= 5 ms", idle is null ? "not run" : $"{F(idle.DowntimeMsP50)} ms", idle is null ? null : idle.DowntimeMsP50 <= 5));
        var uniform = Get("uniform-50");
        targets.Add(new("uniform-50 downtime p50 <= 20 ms", uniform is null ? "not run" : $"{F(uniform.DowntimeMsP50)} ms", uniform is null ? null : uniform.DowntimeMsP50 <= 20));

        // The bulk copy of raw rounds on the 10 Gb/s link (compress-all is bounded by LZ4, reported apart).
        var rawTenGig = results.Where(r => r.LinkMBps >= 1000 && r.Compression != "all" && !double.IsNaN(r.BulkCopyLinkFraction)).ToList();
        targets.Add(new("bulk copy >= 80 % of the 1250 MB/s link cap",
            rawTenGig.Count == 0 ? "not run" : string.Join(", ", rawTenGig.Select(r => $"{r.Case}: {F(r.BulkCopyMBps)} MB/s ({F(r.BulkCopyLinkFraction * 100)} %)")),
            rawTenGig.Count == 0 ? null : rawTenGig.All(r => r.BulkCopyLinkFraction >= 0.8)));

        foreach (var suffix in new[] { "10g", "1g" })
        {
            var all = Get($"compress-all-{suffix}");
            var final = Get($"compress-final-{suffix}");
            targets.Add(new($"compress-final-{suffix} CPU seconds <= 1/3 of compress-all-{suffix}",
                all is null || final is null ? "not run" : $"final {F(final.CpuSeconds)} s vs all {F(all.CpuSeconds)} s (ratio {F(all.CpuSeconds > 0 ? final.CpuSeconds / all.CpuSeconds : double.NaN)})",
                all is null || final is null ? null : final.CpuSeconds <= all.CpuSeconds / 3));
        }

        var none1 = Get("compress-none-1g");
        var final1 = Get("compress-final-1g");
        targets.Add(new("compress-final-1g downtime p50 below compress-none-1g",
            none1 is null || final1 is null ? "not run" : $"final {F(final1.DowntimeMsP50)} ms vs none {F(none1.DowntimeMsP50)} ms (final-copy wire bytes p50 {F(final1.FinalWireBytesP50)} vs {F(none1.FinalWireBytesP50)})",
            none1 is null || final1 is null ? null : final1.DowntimeMsP50 < none1.DowntimeMsP50));

        var withPlc = Get("surge-with-plc");
        var withoutPlc = Get("surge-without-plc");
        targets.Add(new("surge with pre-last-copy: downtime p99/p50 <= 2",
            withPlc is null ? "not run" : $"p99 {F(withPlc.DowntimeMsP99)} ms / p50 {F(withPlc.DowntimeMsP50)} ms = {F(withPlc.DowntimeMsP99 / withPlc.DowntimeMsP50)}",
            withPlc is null ? null : withPlc.DowntimeMsP99 <= 2 * withPlc.DowntimeMsP50));
        targets.Add(new("surge: p99 with pre-last-copy clearly below without (taken as <= half)",
            withPlc is null || withoutPlc is null ? "not run" : $"with {F(withPlc.DowntimeMsP99)} ms vs without {F(withoutPlc.DowntimeMsP99)} ms",
            withPlc is null || withoutPlc is null ? null : withPlc.DowntimeMsP99 <= 0.5 * withoutPlc.DowntimeMsP99));
        return targets;
    }
}
