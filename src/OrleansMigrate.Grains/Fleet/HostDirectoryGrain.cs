using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// See <see cref="IHostDirectoryGrain"/>. In memory only: every record here is a copy of one the host grains store, so an
/// activation starts empty, fills itself from the hosts in the background (answering "not complete" meanwhile, while
/// taking the hosts' changes as they come) and reads them again every minute, which heals any publish that was lost. A
/// host whose publish failed retries every few seconds (<see cref="HostGrain"/>). A read costs one pass over the hosts
/// held (an integer compare each), no grain call.
/// </summary>
[ControlPlanePlacement]
public sealed partial class HostDirectoryGrain(ILogger<HostDirectoryGrain> logger) : Grain, IHostDirectoryGrain
{
    /// <summary>How often the directory reads the whole registry again, healing any change it was not told of.</summary>
    public static readonly TimeSpan RefillInterval = TimeSpan.FromMinutes(1);

    /// <summary>Hosts a refill asks at once.</summary>
    private const int FillConcurrency = 64;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Guid _epoch = Guid.NewGuid();
    private long _cursor;
    private bool _complete;
    private bool _filling;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(FillAsync, new GrainTimerCreationOptions(TimeSpan.Zero, RefillInterval) { Interleave = true });
        return Task.CompletedTask;
    }

    public Task PublishAsync(string hostId, HostRecord? record, HostVersion version)
    {
        ArgumentException.ThrowIfNullOrEmpty(hostId);
        Apply(hostId, record, version);
        return Task.CompletedTask;
    }

    public Task RefillAsync() => FillAsync(CancellationToken.None);

    public Task<HostDirectoryChanges> ChangesSinceAsync(Guid epoch, long cursor)
    {
        var full = epoch != _epoch;
        var changed = ImmutableArray.CreateBuilder<HostRecord>();
        var removed = ImmutableArray.CreateBuilder<string>();
        foreach (var (id, entry) in _entries)
        {
            if (full || entry.Stamp > cursor)
            {
                if (entry.Record is { } record)
                {
                    changed.Add(record);
                }
                else if (!full)
                {
                    removed.Add(id);
                }
            }
        }

        return Task.FromResult(new HostDirectoryChanges(_epoch, _cursor, _complete, full, changed.ToImmutable(), removed.ToImmutable()));
    }

    /// <summary>Keeps the newer of what it holds and what it is given; a change takes the next cursor. A registration
    /// after an unregistration is taken whatever its time (another silo's clock may be behind).</summary>
    private void Apply(string hostId, HostRecord? record, HostVersion version)
    {
        if (_entries.TryGetValue(hostId, out var held) && held.Version.CompareTo(version) >= 0
            && !(held.Record is null && record is not null && held.Version.RegisteredAt != version.RegisteredAt))
        {
            return;
        }

        Set(hostId, record, version);
    }

    private void Set(string hostId, HostRecord? record, HostVersion version) => _entries[hostId] = new Entry(record, version, ++_cursor);

    /// <summary>Reads every host as stored, with the version it was published under, and takes it for each host whose
    /// entry did not change since this read began (a publish meanwhile is at least as fresh) and differs from it: so a
    /// publish that was lost (a crash between a host's write and its publish, a retry that died with its grain) is
    /// healed within a minute, and a host no longer registered is dropped. At most <see cref="FillConcurrency"/> hosts
    /// are asked at once; interleaved with the hosts' own publishes.</summary>
    private async Task FillAsync(CancellationToken cancellationToken)
    {
        if (_filling)
        {
            return;
        }

        _filling = true;
        try
        {
            var began = _cursor;
            var ids = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostIdsAsync();
            foreach (var chunk in ids.Chunk(FillConcurrency))
            {
                var read = await Task.WhenAll(chunk.Select(async id => (Id: id, Stored: await GrainFactory.GetGrain<IHostGrain>(id).GetVersionedAsync())));
                foreach (var (id, (record, version)) in read)
                {
                    var held = _entries.TryGetValue(id, out var e) ? e : (Entry?)null;
                    if (record is not null && (held is null || (held.Value.Stamp <= began && (held.Value.Version != version || held.Value.Record is null))))
                    {
                        Set(id, record, version);
                    }
                }
            }

            // A host held here that the registry does not list is asked itself: the registry lists a host only once its
            // registration is complete, so one registering right now is not listed yet but stores its record. One that
            // stores none, and published nothing since this read began, is gone (its unregistration's publish was lost).
            var listed = ids.ToHashSet(StringComparer.Ordinal);
            foreach (var (id, entry) in _entries.Where(e => e.Value.Record is not null && !listed.Contains(e.Key)).ToList())
            {
                var (record, _) = await GrainFactory.GetGrain<IHostGrain>(id).GetVersionedAsync();
                if (record is null && _entries.TryGetValue(id, out var now) && now.Stamp <= began)
                {
                    Set(id, null, entry.Version with { Change = entry.Version.Change + 1 });
                }
            }

            if (!_complete)
            {
                LogFilled(logger, ids.Length);
            }

            _complete = true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogFillFailed(logger, ex.Message);
        }
        finally
        {
            _filling = false;
        }
    }

    private readonly record struct Entry(HostRecord? Record, HostVersion Version, long Stamp);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Information, Message = "Host directory filled from the registry: {Hosts} hosts")]
    private static partial void LogFilled(ILogger logger, int hosts);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "Host directory could not read the registry (retried within a minute): {Reason}")]
    private static partial void LogFillFailed(ILogger logger, string reason);
}
