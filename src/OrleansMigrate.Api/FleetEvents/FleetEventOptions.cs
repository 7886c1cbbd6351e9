namespace OrleansMigrate.Api.FleetEvents;

/// <summary>Bounds of the fleet-wide event stream (<c>GET /v1/events</c>): how often the one gatherer per API process asks
/// the cluster, and how much memory the stream may hold.</summary>
public sealed class FleetEventOptions
{
    /// <summary>How often the gatherer asks the scheduler for the migrations in flight (one grain call, whatever the number
    /// of clients). Phases shorter than this may be seen only as the next phase.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The gatherer keeps polling this long after the last client left, so a client that reconnects with
    /// <c>Last-Event-ID</c> after a short break misses nothing; after it the gatherer sleeps until a client comes.</summary>
    public TimeSpan IdleGrace { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Events kept for resuming (<c>Last-Event-ID</c>); an older id gets a <c>reset</c> and the current state.</summary>
    public int BufferEvents { get; init; } = 4096;

    /// <summary>Clients connected at once; one more gets 503.</summary>
    public int MaxClients { get; init; } = 64;

    /// <summary>Events queued for one client; a client this far behind is dropped with a final <c>dropped</c> event.</summary>
    public int ClientQueue { get; init; } = 1024;

    /// <summary>A comment line sent after this long without events, so proxies keep the connection open.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(15);
}
