using System.Collections.Concurrent;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The analytic driver's stand-in for TCP: a process-wide registry of listening incoming migrations keyed by a
/// synthetic endpoint (<see cref="Host"/>, a port from a counter), so the outgoing side of any analytic driver
/// instance in the same process finds its peer. A source "connects" by claiming the entry, so an endpoint is
/// accepted at most once, as a listening socket would be.
/// </summary>
internal static class AnalyticEndpoints
{
    /// <summary>Host name of every analytic endpoint.</summary>
    public const string Host = "analytic";

    private const int MaxPort = 65_535;

    private static readonly ConcurrentDictionary<int, AnalyticIncomingMigration> Listening = new();
    private static int _next;

    /// <summary>Registers a listening incoming migration under a port no other listening one holds.</summary>
    public static MigrationEndpoint Register(AnalyticIncomingMigration incoming)
    {
        for (var attempt = 0; attempt < MaxPort; attempt++)
        {
            var port = (int)((uint)Interlocked.Increment(ref _next) % MaxPort) + 1;
            if (Listening.TryAdd(port, incoming))
                return new MigrationEndpoint(Host, port);
        }

        throw new InvalidOperationException($"All {MaxPort} analytic migration endpoints are in use.");
    }

    /// <summary>Takes the incoming migration listening at <paramref name="endpoint"/>; null when none is.</summary>
    public static AnalyticIncomingMigration? Claim(MigrationEndpoint endpoint) =>
        string.Equals(endpoint.Host, Host, StringComparison.Ordinal) && Listening.TryRemove(endpoint.Port, out var incoming) ? incoming : null;

    /// <summary>Stops listening (abort, timeout, dispose); only removes the entry if it is still this migration's.</summary>
    public static void Unregister(MigrationEndpoint endpoint, AnalyticIncomingMigration incoming) =>
        Listening.TryRemove(new KeyValuePair<int, AnalyticIncomingMigration>(endpoint.Port, incoming));

    /// <summary>Incoming migrations listening now (diagnostics, tests).</summary>
    public static int Count => Listening.Count;
}
