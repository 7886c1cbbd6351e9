using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Api.FleetEvents;

/// <summary>
/// The one fan-out of <c>GET /v1/events</c> per API process. A single background loop asks the scheduler for the
/// migrations in flight every <see cref="FleetEventOptions.PollInterval"/> (one grain call, plus one read of each migration
/// that left the list, for its final status), and the running-operations list for the drains and campaigns running (one
/// call, plus one read of each: a drain's status, a campaign's summary — never the fleet's hosts), and publishes what
/// changed into a bounded ring buffer; every client reads from that buffer through its own bounded queue. So the cluster
/// sees the same calls for one client as for a thousand.
/// The cluster has no Orleans stream provider configured, hence a poller rather than a stream subscription.
/// Event ids are <c>EPOCH-SEQ</c>: an id from another process (an API restart, another silo's API) cannot be resumed
/// here, and gets a <c>reset</c> event and the current state instead of a silent gap.
/// </summary>
public sealed partial class FleetEventHub(OmigClient omig, FleetEventOptions options, TimeProvider time, ILogger<FleetEventHub> logger) : BackgroundService
{
    private readonly Lock _lock = new();
    private readonly FleetEvent?[] _ring = new FleetEvent?[Math.Max(16, options.BufferEvents)];
    private readonly HashSet<Subscriber> _subscribers = [];
    private readonly Dictionary<string, FleetEvent> _latest = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _tracked = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (FleetOperationRef Operation, string Json, bool Ended)> _operations = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0, 1);
    private long _nextSeq = 1;
    private long _polls;
    private long _grainCalls;
    private long _dropped;
    private DateTimeOffset _lastClientAt = DateTimeOffset.MinValue;

    /// <summary>This process's id prefix: start time in ms, hex.</summary>
    public string Epoch { get; } = time.GetUtcNow().ToUnixTimeMilliseconds().ToString("x", CultureInfo.InvariantCulture);

    public FleetEventOptions Options => options;

    public FleetEventStats Stats
    {
        get
        {
            lock (_lock)
            {
                return new FleetEventStats(_polls, _grainCalls, _subscribers.Count, _tracked.Count + _operations.Count, _nextSeq - 1, _dropped);
            }
        }
    }

    public string IdOf(FleetEvent e) => $"{Epoch}-{e.Seq.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Registers a client. Returns null when <see cref="FleetEventOptions.MaxClients"/> are connected. The backlog is
    /// what the client must be sent first: the buffered events after <paramref name="lastEventId"/>, or (no id, or one that
    /// cannot be resumed here, then after a <c>reset</c> event) the latest status of every migration in flight.</summary>
    public Subscriber? Subscribe(string? lastEventId)
    {
        lock (_lock)
        {
            if (_subscribers.Count >= options.MaxClients)
            {
                return null;
            }

            var backlog = new List<FleetEvent>();
            var oldest = Math.Max(1, _nextSeq - _ring.Length);
            if (lastEventId is not null && ParseSeq(lastEventId) is { } seq && seq >= oldest - 1 && seq < _nextSeq)
            {
                for (var s = seq + 1; s < _nextSeq; s++)
                {
                    backlog.Add(_ring[s % _ring.Length]!);
                }
            }
            else
            {
                if (lastEventId is not null)
                {
                    // Not resumable: say so (with the newest id, so a reconnect after it resumes from here).
                    backlog.Add(new FleetEvent(_nextSeq - 1, "reset", JsonSerializer.Serialize(new
                    {
                        reason = "the Last-Event-ID is not in this API process's buffer (too old, or from another process); the current state follows",
                    }, ApiJson.Options), null));
                }

                backlog.AddRange(_latest.Values.OrderBy(e => e.Seq));
            }

            var subscriber = new Subscriber(backlog, Channel.CreateBounded<FleetEvent>(new BoundedChannelOptions(Math.Max(1, options.ClientQueue))
            {
                SingleReader = true,
                SingleWriter = true,
                FullMode = BoundedChannelFullMode.Wait,
            }));
            _subscribers.Add(subscriber);
            _lastClientAt = time.GetUtcNow();
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }

            return subscriber;
        }
    }

    public void Unsubscribe(Subscriber subscriber)
    {
        lock (_lock)
        {
            if (_subscribers.Remove(subscriber))
            {
                subscriber.Queue.Writer.TryComplete();
            }

            _lastClientAt = time.GetUtcNow();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            bool idle;
            lock (_lock)
            {
                idle = _subscribers.Count == 0 && time.GetUtcNow() - _lastClientAt > options.IdleGrace;
            }

            if (idle)
            {
                // Nobody listens: nothing is asked of the cluster until a client comes.
                await _wake.WaitAsync(stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            try
            {
                await PollOnceAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // The cluster did not answer this pass: the next one asks again; clients simply hear nothing meanwhile.
                LogPollFailed(logger, ex.GetBaseException().GetType().Name, ex.GetBaseException().Message);
            }

            await Task.Delay(options.PollInterval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>One pass: the migrations in flight, then the final status of each that left the list since the last pass;
    /// then the running drains and campaigns, likewise.</summary>
    public async Task PollOnceAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            // Together, so a reader of Stats never sees a pass without its call.
            _polls++;
            _grainCalls++;
        }

        var open = await omig.ListMigrationsAsync(includeEnded: false);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var status in open.OrderBy(m => m.CreatedAt))
        {
            seen.Add(status.MigrationId);
            Observe(status);
        }

        foreach (var gone in _tracked.Keys.Where(id => !seen.Contains(id)).ToList())
        {
            cancellationToken.ThrowIfCancellationRequested();
            lock (_lock)
            {
                _grainCalls++;
            }

            try
            {
                Observe(await omig.GetMigrationAsync(gone));
            }
            catch (OmigException ex) when (ex.Code == OmigErrorCode.NotFound)
            {
                Forget(gone);
            }
        }

        await PollOperationsAsync(cancellationToken);
    }

    private async Task PollOperationsAsync(CancellationToken cancellationToken)
    {
        CountCall();
        var running = await omig.ListRunningOperationsAsync();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var operation in running)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var subject = SubjectOf(operation);
            seen.Add(subject);
            try
            {
                // Read every pass, even one already seen ended: a new drain of the same host may have taken over its entry
                // (an unchanged answer publishes nothing).
                if (!await ObserveAsync(operation, subject) || _operations[subject].Ended)
                {
                    // Listed yet ended (or gone): its own unlisting failed. Its grain removes it (only if it has not
                    // started again); a removal that fails too is simply asked for again next pass.
                    CountCall();
                    await omig.PruneRunningOperationAsync(operation);
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // One slow or failing operation does not hold back the others' events.
                LogOperationFailed(logger, subject, ex.GetBaseException().GetType().Name, ex.GetBaseException().Message);
            }
        }

        foreach (var (subject, gone) in _operations.Where(o => !seen.Contains(o.Key)).ToList())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!gone.Ended)
            {
                try
                {
                    await ObserveAsync(gone.Operation, subject); // its final state
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    LogOperationFailed(logger, subject, ex.GetBaseException().GetType().Name, ex.GetBaseException().Message);
                    continue; // asked again next pass
                }
            }

            ForgetOperation(subject);
        }
    }

    /// <summary>Reads one drain or campaign and publishes it when it changed; false when it does not exist.</summary>
    private async Task<bool> ObserveAsync(FleetOperationRef operation, string subject)
    {
        CountCall();
        (string Name, string Json, bool Ended)? read;
        try
        {
            read = operation.Kind switch
            {
                FleetOperationKind.Drain => await omig.GetDrainOrNullAsync(operation.Id) is { } d
                    ? ("drain", JsonSerializer.Serialize(d, ApiJson.Options), d.IsEnded) : null,
                _ => await omig.GetCampaignSummaryAsync(operation.Id) is { } c
                    ? ("campaign", JsonSerializer.Serialize(c, ApiJson.Options), c.IsEnded) : null,
            };
        }
        catch (OmigException ex) when (ex.Code == OmigErrorCode.NotFound)
        {
            read = null;
        }

        if (read is not { } now)
        {
            ForgetOperation(subject);
            return false;
        }

        if (!_operations.TryGetValue(subject, out var last) || last.Json != now.Json)
        {
            Publish(now.Name, now.Json, subject, now.Ended);
        }

        _operations[subject] = (operation, now.Json, now.Ended);
        if (now.Ended)
        {
            DropLatest(subject); // a new client is not sent an ended operation as current state
        }

        return true;
    }

    private static string SubjectOf(FleetOperationRef operation) =>
        (operation.Kind == FleetOperationKind.Drain ? "drain/" : "campaign/") + operation.Id;

    private void CountCall()
    {
        lock (_lock)
        {
            _grainCalls++;
        }
    }

    /// <summary>Publishes a status that differs from the last one published for its migration; an ended one is published
    /// once and then no longer followed.</summary>
    private void Observe(MigrationStatus status)
    {
        var json = JsonSerializer.Serialize(status, ApiJson.Options);
        if (!_tracked.TryGetValue(status.MigrationId, out var last) || last != json)
        {
            _tracked[status.MigrationId] = json;
            Publish("status", json, "migration/" + status.MigrationId, status.IsEnded);
        }

        if (status.IsEnded)
        {
            Forget(status.MigrationId);
        }
    }

    private void Forget(string migrationId)
    {
        _tracked.Remove(migrationId);
        DropLatest("migration/" + migrationId);
    }

    private void ForgetOperation(string subject)
    {
        _operations.Remove(subject);
        DropLatest(subject);
    }

    private void DropLatest(string subject)
    {
        lock (_lock)
        {
            _latest.Remove(subject);
        }
    }

    private void Publish(string name, string json, string subject, bool ended)
    {
        lock (_lock)
        {
            var e = new FleetEvent(_nextSeq++, name, json, subject);
            _ring[e.Seq % _ring.Length] = e;
            if (!ended)
            {
                _latest[subject] = e;
            }

            foreach (var subscriber in _subscribers.ToList())
            {
                if (!subscriber.Queue.Writer.TryWrite(e))
                {
                    // This client's queue is full: it is dropped (told so by its endpoint) rather than slowing the rest.
                    subscriber.Dropped = true;
                    subscriber.Queue.Writer.TryComplete();
                    _subscribers.Remove(subscriber);
                    _dropped++;
                }
            }
        }
    }

    private long? ParseSeq(string lastEventId)
    {
        var dash = lastEventId.LastIndexOf('-');
        return dash > 0 && lastEventId.AsSpan(0, dash).SequenceEqual(Epoch)
            && long.TryParse(lastEventId.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var seq) ? seq : null;
    }

    /// <summary>One connected client: what it must be sent first, then its bounded queue of live events.</summary>
    public sealed class Subscriber(IReadOnlyList<FleetEvent> backlog, Channel<FleetEvent> queue)
    {
        public IReadOnlyList<FleetEvent> Backlog { get; } = backlog;

        public Channel<FleetEvent> Queue { get; } = queue;

        private volatile bool _dropped;

        /// <summary>Set when the hub dropped this client for not keeping up.</summary>
        public bool Dropped
        {
            get => _dropped;
            set => _dropped = value;
        }
    }

    [LoggerMessage(EventId = 7302, Level = LogLevel.Warning, Message = "Fleet events: reading {Subject} failed ({ErrorType}: {Error}); the next pass asks again")]
    private static partial void LogOperationFailed(ILogger logger, string subject, string errorType, string error);

    [LoggerMessage(EventId = 7301, Level = LogLevel.Warning, Message = "Fleet events: a pass over the cluster failed ({ErrorType}: {Error}); the next pass asks again")]
    private static partial void LogPollFailed(ILogger logger, string errorType, string error);
}
