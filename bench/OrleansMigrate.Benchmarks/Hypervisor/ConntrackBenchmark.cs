using System.Diagnostics;
using System.Text.Json.Serialization;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Hypervisor.Sessions.Conntrack;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>One run: the TCP entries created in batches, dumped, deleted — each phase's wall time.</summary>
public sealed record ConntrackBenchmarkRun(
    [property: JsonPropertyName("write_s")] double WriteSeconds,
    [property: JsonPropertyName("read_s")] double ReadSeconds,
    [property: JsonPropertyName("delete_s")] double DeleteSeconds,
    [property: JsonPropertyName("entries_read")] int EntriesRead);

/// <summary>The conntrack benchmark's JSON (<c>bench-results/conntrack.json</c>): medians over the runs.</summary>
public sealed record ConntrackBenchmarkResult(
    [property: JsonPropertyName("entries")] int Entries,
    [property: JsonPropertyName("batch_size")] int BatchSize,
    [property: JsonPropertyName("runs")] int Runs,
    [property: JsonPropertyName("write_entries_per_s_p50")] double WriteEntriesPerSecondP50,
    [property: JsonPropertyName("read_entries_per_s_p50")] double ReadEntriesPerSecondP50,
    [property: JsonPropertyName("delete_entries_per_s_p50")] double DeleteEntriesPerSecondP50,
    [property: JsonPropertyName("write_s_p50")] double WriteSecondsP50,
    [property: JsonPropertyName("read_s_p50")] double ReadSecondsP50,
    [property: JsonPropertyName("delete_s_p50")] double DeleteSecondsP50,
    [property: JsonPropertyName("per_run")] IReadOnlyList<ConntrackBenchmarkRun> PerRun,
    [property: JsonPropertyName("kernel")] string Kernel,
    [property: JsonPropertyName("note")] string Note);

/// <summary>
/// Writes and reads conntrack entries through <see cref="ConntrackClient"/> in a network namespace of its own
/// (<c>{prefix}-bench</c>, removed afterwards): per run, <c>entries</c> established TCP entries created in batches
/// (every ack checked), one dump of the table (every entry parsed), and their deletion in batches. Reports medians.
/// Needs root; the namespace's table starts empty, and its entries count against <c>nf_conntrack_max</c>.
/// </summary>
public static class ConntrackBenchmark
{
    public static async Task<ConntrackBenchmarkResult> RunAsync(int entries = 100_000, int runs = 3, int batchSize = ConntrackClient.DefaultBatchSize,
        string prefix = "omc", Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        if (entries is < 1 or > 200_000)
            throw new ArgumentOutOfRangeException(nameof(entries), entries, "entries must be 1..200000 (nf_conntrack_max is shared)");
        if (runs is < 1 or > 50)
            throw new ArgumentOutOfRangeException(nameof(runs), runs, "runs must be 1..50");
        var ns = $"{prefix}-bench";
        if (!NetNamespace.IsValidName(ns))
            throw new ArgumentException($"'{prefix}' does not make a namespace name.", nameof(prefix));
        _ = await HostCommand.TryRunAsync("ip", ["netns", "del", ns], cancellationToken: cancellationToken).ConfigureAwait(false);
        await HostCommand.RunAsync("ip", ["netns", "add", ns], cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            var list = Make(entries);
            var tuples = list.Select(e => e.Original).ToList();
            var perRun = new List<ConntrackBenchmarkRun>();
            using var client = ConntrackClient.Open(ns, TimeSpan.FromMinutes(2));
            for (var run = 0; run < runs; run++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var sw = Stopwatch.StartNew();
                client.Write(list, exclusive: true, batchSize: batchSize).ThrowIfFailed("benchmark write");
                var write = sw.Elapsed.TotalSeconds;
                sw.Restart();
                var read = client.Dump(_ => { });
                var readSeconds = sw.Elapsed.TotalSeconds;
                if (read != entries)
                    throw new InvalidOperationException($"benchmark dump read {read} entries, {entries} were written");
                sw.Restart();
                client.Delete(tuples, batchSize: batchSize).ThrowIfFailed("benchmark delete");
                var delete = sw.Elapsed.TotalSeconds;
                perRun.Add(new ConntrackBenchmarkRun(write, readSeconds, delete, read));
                log?.Invoke($"run {run + 1}/{runs}: write {entries / write:0} entries/s ({write:0.000} s), read {entries / readSeconds:0} entries/s ({readSeconds:0.000} s), delete {entries / delete:0} entries/s ({delete:0.000} s)");
            }

            var w = Median(perRun.Select(r => r.WriteSeconds));
            var r = Median(perRun.Select(r => r.ReadSeconds));
            var d = Median(perRun.Select(r => r.DeleteSeconds));
            return new ConntrackBenchmarkResult(entries, batchSize, runs, Math.Round(entries / w), Math.Round(entries / r), Math.Round(entries / d),
                Math.Round(w, 4), Math.Round(r, 4), Math.Round(d, 4), perRun, Environment.OSVersion.VersionString,
                "ctnetlink over a raw NETLINK_NETFILTER socket in a fresh namespace; write = IPCTNL_MSG_CT_NEW|NLM_F_CREATE|NLM_F_EXCL of established TCP entries with protoinfo, batch_size messages per sendmsg, every ack read; read = one IPv4 dump, every entry parsed; delete = IPCTNL_MSG_CT_DELETE by original tuple, acks read");
        }
        finally
        {
            _ = await HostCommand.TryRunAsync("ip", ["netns", "del", ns], cancellationToken: CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static List<ConntrackEntry> Make(int count)
    {
        var vm = ConntrackAddress.Parse("172.30.0.10");
        var peer = ConntrackAddress.Parse("10.1.0.0");
        var list = new List<ConntrackEntry>(count);
        for (var i = 0; i < count; i++)
        {
            var t = new ConntrackTuple(vm, peer + 1 + (uint)(i / 50_000), ConntrackTuple.Tcp, (ushort)(10_000 + (i % 50_000)), 7008);
            list.Add(new ConntrackEntry(t, t.Inverse()!.Value, ConntrackEntry.StatusAssured | ConntrackEntry.StatusSeenReply, 3600, (uint)i,
                Tcp: new ConntrackTcpInfo(ConntrackTcpInfo.Established, 7, 7, 0x03, 0x03)));
        }

        return list;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
