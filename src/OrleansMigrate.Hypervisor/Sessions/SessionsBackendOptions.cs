using OrleansMigrate.Hypervisor.Sessions.Conntrack;

namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>
/// Where a VM's session table comes from. Bound from the <c>Cloud:Sessions</c> configuration section:
/// <c>simulated</c> (default: the simulated guest's table) or <c>conntrack</c> (the host's real conntrack entries of the
/// VM's address, read and written over ctnetlink by <see cref="ConntrackSessionSource"/> and
/// <see cref="ConntrackSessionSink"/>).
/// </summary>
public sealed class SessionsBackendOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Cloud:Sessions";

    public const string Simulated = "simulated";
    public const string ConntrackBackend = "conntrack";

    /// <summary><c>simulated</c> or <c>conntrack</c>.</summary>
    public string Backend { get; set; } = Simulated;

    /// <summary>How often the source host pulls conntrack events into the session table while rounds run, in ms (1..10000).</summary>
    public int SyncIntervalMs { get; set; } = 50;

    /// <summary>Receive buffer of the conntrack event socket, in bytes (64 KiB..256 MiB); an overflow costs a full re-read.</summary>
    public int EventBufferBytes { get; set; } = 8 * 1024 * 1024;

    public bool UsesConntrack => string.Equals(Backend, ConntrackBackend, StringComparison.Ordinal);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        if (Backend is not (Simulated or ConntrackBackend))
            throw new ArgumentException($"Cloud:Sessions:Backend must be '{Simulated}' or '{ConntrackBackend}', was '{Backend}'.", nameof(Backend));
        if (SyncIntervalMs is < 1 or > 10_000)
            throw new ArgumentException($"Cloud:Sessions:SyncIntervalMs must be 1..10000, was {SyncIntervalMs}.", nameof(SyncIntervalMs));
        if (EventBufferBytes is < 64 * 1024 or > 256 * 1024 * 1024)
            throw new ArgumentException($"Cloud:Sessions:EventBufferBytes must be 65536..268435456, was {EventBufferBytes}.", nameof(EventBufferBytes));
    }

    /// <summary>
    /// Checks that ctnetlink can be used in <paramref name="ns"/> (null: this process's namespace): opens a socket,
    /// asks for an entry that cannot exist and joins the event groups. Throws <see cref="ConntrackException"/> with the
    /// reason (the namespace is missing, the process lacks CAP_NET_ADMIN, the kernel has no ctnetlink).
    /// </summary>
    public static void CheckConntrackAvailable(string? ns)
    {
        var where = ns is null ? "this process's network namespace" : $"network namespace '{ns}'";
        try
        {
            using var client = ConntrackClient.Open(ns, TimeSpan.FromSeconds(5));
            _ = client.Get([new ConntrackTuple(0, 0, ConntrackTuple.Udp, 0, 0)]);
            using var events = ConntrackEventStream.Open(ns, 64 * 1024);
        }
        catch (ConntrackException ex) when (ex.Errno == 1)
        {
            throw new ConntrackException($"Cloud:Sessions:Backend=conntrack: ctnetlink refused in {where} (EPERM): the agent needs root (CAP_NET_ADMIN) there. {ex.Message}", ex.Errno, ex);
        }
        catch (ConntrackException ex)
        {
            throw new ConntrackException($"Cloud:Sessions:Backend=conntrack: ctnetlink cannot be used in {where}: {ex.Message}", ex.Errno, ex);
        }
    }
}
