using System.Collections.Immutable;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// The admission decision across scheduler shards, without a cluster (<see cref="AdmissionLedgerGrain"/> holds one).
/// Each shard's report of what it holds replaces what the ledger knew of it. A candidate is granted a slot when the
/// cluster, its source host and its destination host are under their limits, its VM holds no other slot, and no
/// higher-priority candidate of another shard has been waiting (within <see cref="WaitMemory"/>) for one of the same limits.
/// Until every shard has reported once (a new ledger: the previous one's silo died), nothing is granted.
/// </summary>
public sealed class AdmissionLedger(int shards)
{
    /// <summary>How long a refused candidate keeps lower-priority candidates of other shards off its limit: shards ask again
    /// at every admission pass, at least every 2 s while anything is queued.</summary>
    public static readonly TimeSpan WaitMemory = TimeSpan.FromSeconds(5);

    private readonly Dictionary<int, ImmutableArray<AdmissionSlot>> _held = [];

    /// <summary>Slots granted to a shard that its own next request has not confirmed yet: an answer to the ledger's
    /// question (<see cref="ReportAnswer"/>) may have been given before the shard saw the grant, and must not drop them.</summary>
    private readonly Dictionary<int, List<AdmissionSlot>> _unconfirmed = [];
    private readonly Dictionary<string, Waiting> _waiting = new(StringComparer.Ordinal);

    private sealed record Waiting(int Shard, MigrationPriority Priority, string Limit, DateTimeOffset Since);

    /// <summary>Shards that have not reported since this ledger began.</summary>
    public IReadOnlyList<int> Unreported => [.. Enumerable.Range(0, shards).Where(s => !_held.ContainsKey(s))];

    /// <summary>Shards that hold slots now.</summary>
    public IReadOnlyList<int> Holding => [.. _held.Where(h => !h.Value.IsEmpty).Select(h => h.Key).Order()];

    /// <summary>Every slot held, across shards.</summary>
    public int InFlight => _held.Values.Sum(h => h.Length);

    /// <summary>Takes <paramref name="held"/> as all that <paramref name="shard"/> holds: the shard's own word, sent with its
    /// request, after it has seen every grant it asked for before.</summary>
    public void Report(int shard, ImmutableArray<AdmissionSlot> held)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, shards);
        _held[shard] = held.IsDefault ? [] : held;
        _unconfirmed.Remove(shard);
    }

    /// <summary>What <paramref name="shard"/> answered when the ledger asked (a refresh, a rebuild): the shard may have
    /// answered before it saw a grant still on its way, so grants it has not confirmed since are kept.</summary>
    public void ReportAnswer(int shard, ImmutableArray<AdmissionSlot> held)
    {
        var pending = _unconfirmed.GetValueOrDefault(shard);
        Report(shard, held);
        if (pending is { Count: > 0 })
        {
            var answered = _held[shard].Select(h => h.MigrationId).ToHashSet(StringComparer.Ordinal);
            _held[shard] = _held[shard].AddRange(pending.Where(p => !answered.Contains(p.MigrationId)));
            _unconfirmed[shard] = pending;
        }
    }

    public AdmissionDecision Decide(int shard, ImmutableArray<AdmissionSlot> held, ImmutableArray<AdmissionSlot> candidates, MigrationAdmissionOptions limits, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(limits);
        Report(shard, held);
        candidates = candidates.IsDefault ? [] : candidates;
        var asked = candidates.Select(c => c.MigrationId).ToHashSet(StringComparer.Ordinal);
        foreach (var (id, w) in _waiting.ToList())
        {
            // This shard's own earlier refusals are asked again now (or were admitted or removed): its order decides them.
            if (now - w.Since > WaitMemory || (w.Shard == shard && !asked.Contains(id)))
            {
                _waiting.Remove(id);
            }
        }

        var refused = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        if (Unreported is { Count: > 0 } missing)
        {
            var why = $"admission is recovering: scheduler shard(s) {string.Join(", ", missing)} have not reported the migrations they admitted yet";
            foreach (var c in candidates)
            {
                refused[c.MigrationId] = why;
            }

            return new AdmissionDecision([], refused.ToImmutable());
        }

        var all = _held.Values.SelectMany(h => h).ToList();
        var byVm = new Dictionary<string, string>(StringComparer.Ordinal);
        var outbound = new Dictionary<string, int>(StringComparer.Ordinal);
        var inbound = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var slot in all)
        {
            byVm.TryAdd(slot.VmId, slot.MigrationId);
            outbound[slot.SourceHost] = outbound.GetValueOrDefault(slot.SourceHost) + 1;
            inbound[slot.DestinationHost] = inbound.GetValueOrDefault(slot.DestinationHost) + 1;
        }

        var inFlight = all.Count;
        var granted = ImmutableArray.CreateBuilder<string>();
        var mine = _held[shard].ToBuilder();
        foreach (var c in candidates)
        {
            if (byVm.TryGetValue(c.VmId, out var other) && other != c.MigrationId)
            {
                refused[c.MigrationId] = $"VM '{c.VmId}' is still being migrated by {other} (admission has not seen it end yet)";
                continue;
            }

            if (byVm.ContainsKey(c.VmId))
            {
                // Already holds its slot (a shard that lost its write asks again): nothing to take.
                granted.Add(c.MigrationId);
                _waiting.Remove(c.MigrationId);
                continue;
            }

            var (limit, reason) = inFlight >= limits.MaxPerCluster
                ? ("cluster", $"cluster limit: {inFlight} of {limits.MaxPerCluster} migrations in flight (MaxPerCluster)")
                : outbound.GetValueOrDefault(c.SourceHost) >= limits.MaxOutboundPerHost
                    ? ("out:" + c.SourceHost, $"source host limit: '{c.SourceHost}' has {outbound.GetValueOrDefault(c.SourceHost)} of {limits.MaxOutboundPerHost} outgoing migrations in flight (MaxOutboundPerHost)")
                    : inbound.GetValueOrDefault(c.DestinationHost) >= limits.MaxInboundPerHost
                        ? ("in:" + c.DestinationHost, $"destination host limit: '{c.DestinationHost}' has {inbound.GetValueOrDefault(c.DestinationHost)} of {limits.MaxInboundPerHost} incoming migrations in flight (MaxInboundPerHost)")
                        : (null, null);
            if (limit is null && AheadOf(c, shard) is { } ahead)
            {
                (limit, reason) = (ahead.Limit, $"waiting behind {Naming.EnumNames.Of(ahead.Priority)} migration {ahead.Id} of another scheduler shard for the same {Describe(ahead.Limit)}");
            }

            if (limit is not null)
            {
                // Renewed at every refusal: a candidate its shard keeps asking for keeps its place.
                refused[c.MigrationId] = reason!;
                _waiting[c.MigrationId] = new Waiting(shard, c.Priority, limit, now);
                continue;
            }

            granted.Add(c.MigrationId);
            _waiting.Remove(c.MigrationId);
            mine.Add(c);
            (_unconfirmed.TryGetValue(shard, out var list) ? list : _unconfirmed[shard] = []).Add(c);
            byVm[c.VmId] = c.MigrationId;
            outbound[c.SourceHost] = outbound.GetValueOrDefault(c.SourceHost) + 1;
            inbound[c.DestinationHost] = inbound.GetValueOrDefault(c.DestinationHost) + 1;
            inFlight++;
        }

        _held[shard] = mine.ToImmutable();
        return new AdmissionDecision(granted.ToImmutable(), refused.ToImmutable());
    }

    /// <summary>A candidate of another shard with a higher priority that waits for a limit <paramref name="c"/> would take.</summary>
    private (string Id, MigrationPriority Priority, string Limit)? AheadOf(AdmissionSlot c, int shard)
    {
        foreach (var (id, w) in _waiting)
        {
            if (w.Shard != shard && w.Priority < c.Priority
                && (w.Limit == "cluster" || w.Limit == "out:" + c.SourceHost || w.Limit == "in:" + c.DestinationHost))
            {
                return (id, w.Priority, w.Limit);
            }
        }

        return null;
    }

    private static string Describe(string limit) =>
        limit == "cluster" ? "cluster limit (MaxPerCluster)"
        : limit.StartsWith("out:", StringComparison.Ordinal) ? $"source host limit of '{limit[4..]}' (MaxOutboundPerHost)"
        : $"destination host limit of '{limit[3..]}' (MaxInboundPerHost)";
}
