using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Placement;

namespace OrleansMigrate.Fleet;

/// <summary>
/// See <see cref="IHostDirectoryGrain"/>. In memory only: every record here is a copy of one the host grains store, so an
/// activation starts empty, fills itself from the registry in the background (answering "not complete" meanwhile, while
/// taking the hosts' changes as they come) and reads the registry again every minute for hosts it does not hold (or that
/// are gone); a record from the registry never replaces one a host published. A host whose publish failed retries until
/// it lands (<see cref="HostGrain"/>). A read costs one pass over the hosts held (an integer compare each), no grain call.
/// </summary>
[ControlPlanePlacement]
public sealed partial class HostDirectoryGrain(ILogger<HostDirectoryGrain> logger) : Grain, IHostDirectoryGrain
{
    /// <summary>How often the directory reads the whole registry again, healing any change it was not told of.</summary>
    public static readonly TimeSpan RefillInterval = TimeSpan.FromMinutes(1);

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

    /// <summary>Keeps the newer of what it holds and what it is given; a change takes the next cursor.</summary>
    private void Apply(string hostId, HostRecord? record, HostVersion version)
    {
        if (_entries.TryGetValue(hostId, out var held) && held.Version.CompareTo(version) >= 0)
        {
            return;
        }

        _entries[hostId] = new Entry(record, version, ++_cursor);
    }

    /// <summary>Reads every host from the registry (interleaved with the hosts' own changes, which it never
    /// overwrites: a registry read is taken only for a host not held, as change 0 of its registration, older than any
    /// change a host publishes).</summary>
    private async Task FillAsync(CancellationToken cancellationToken)
    {
        if (_filling)
        {
            return;
        }

        _filling = true;
        try
        {
            var hosts = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).ListHostsAsync();
            var listed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var host in hosts)
            {
                listed.Add(host.HostId);
                if (!_entries.TryGetValue(host.HostId, out var held) || held.Record is null && held.Version.RegisteredAt < host.RegisteredAt)
                {
                    Apply(host.HostId, host, new HostVersion(host.RegisteredAt, 0));
                }
            }

            // A host held here that the registry no longer lists was unregistered while this directory missed it.
            foreach (var (id, entry) in _entries.ToList())
            {
                if (entry.Record is not null && !listed.Contains(id) && entry.Version.Change == 0)
                {
                    Apply(id, null, entry.Version with { Change = long.MaxValue });
                }
            }

            if (!_complete)
            {
                LogFilled(logger, hosts.Length);
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
