using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Migration;

/// <summary>
/// Where a migration's scheduler shard is. A request goes to the shard of its VM's source host, so a host's outgoing
/// migrations (a drain's, a campaign batch's) are admitted together; a migration id is drawn so that it hashes to its
/// shard, so an id alone finds its shard. Ids from before sharding live in shard 0 (the old scheduler's row), whatever
/// they hash to: lookups by id ask shard 0 as well.
/// </summary>
public static class SchedulerShards
{
    /// <summary>The shard a VM on <paramref name="hostId"/> is submitted to.</summary>
    public static int OfHost(string hostId) => Naming.StableHash.Shard(hostId, IMigrationSchedulerGrain.Shards);

    /// <summary>The shard a migration id was drawn for.</summary>
    public static int OfMigration(string migrationId) => Naming.StableHash.Shard(migrationId, IMigrationSchedulerGrain.Shards);

    public static string KeyOf(int shard) =>
        shard is < 0 or >= IMigrationSchedulerGrain.Shards ? throw new ArgumentOutOfRangeException(nameof(shard))
        : shard == 0 ? IMigrationSchedulerGrain.Key : $"{IMigrationSchedulerGrain.Key}/{shard}";

    /// <summary>The shard number of a scheduler grain's key.</summary>
    public static int ShardOfKey(string key) =>
        key == IMigrationSchedulerGrain.Key ? 0
        : key.StartsWith(IMigrationSchedulerGrain.Key + "/", StringComparison.Ordinal)
          && int.TryParse(key.AsSpan(IMigrationSchedulerGrain.Key.Length + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
          && n is > 0 and < IMigrationSchedulerGrain.Shards ? n
        : throw new ArgumentException($"'{key}' is not a scheduler shard's key", nameof(key));

    public static IMigrationSchedulerGrain Shard(IGrainFactory grains, int shard) => grains.GetGrain<IMigrationSchedulerGrain>(KeyOf(shard));

    /// <summary>A new migration id that hashes to <paramref name="shard"/> (about <see cref="IMigrationSchedulerGrain.Shards"/> draws).</summary>
    public static string NewMigrationId(int shard)
    {
        for (var i = 0; i < 10_000; i++)
        {
            var id = "mig-" + Guid.NewGuid().ToString("N")[..12];
            if (OfMigration(id) == shard)
            {
                return id;
            }
        }

        throw new InvalidOperationException($"no migration id for shard {shard} in 10,000 draws");
    }

    /// <summary>Submits to the shard of the VM's host: reads the VM, asks that shard, and follows the VM when it moved
    /// in between (at most three times).</summary>
    /// <param name="sourceHost">Where the caller just read the VM to be (a drain knows), saving the read; else read here.</param>
    public static async Task<MigrationStatus> SubmitAsync(IGrainFactory grains, MigrationRequest request, string? sourceHost = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(request);
        FleetValidation.RequireId("vm", request.VmId);
        var host = sourceHost ?? (await grains.GetGrain<IVmGrain>(request.VmId).GetAsync()
            ?? throw OmigException.NotFound("vm", $"VM '{request.VmId}' does not exist")).HostId;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var outcome = await Shard(grains, OfHost(host)).SubmitFromAsync(request, host);
            if (outcome.Status is { } status)
            {
                return status;
            }

            host = outcome.MovedTo ?? throw new InvalidOperationException("a scheduler shard answered neither a status nor where the VM went");
        }

        throw OmigException.Conflict("vm", $"VM '{request.VmId}' kept moving while its migration was submitted (now on '{host}'); submit again");
    }

    /// <summary>The shards that may hold <paramref name="migrationId"/>: its own, and shard 0 for ids from before sharding.</summary>
    public static IEnumerable<IMigrationSchedulerGrain> Holders(IGrainFactory grains, string migrationId) =>
        HolderShards(migrationId).Select(s => Shard(grains, s));

    /// <summary>The shard numbers of <see cref="Holders"/>.</summary>
    public static IReadOnlyList<int> HolderShards(string migrationId) =>
        OfMigration(migrationId) is var own && own == 0 ? [0] : [own, 0];

    /// <summary>The status of a queued or admitted migration not yet ended, from its shard; null when no shard holds it.</summary>
    public static async Task<MigrationStatus?> FindOpenAsync(IGrainFactory grains, string migrationId)
    {
        foreach (var shard in Holders(grains, migrationId))
        {
            if (await shard.FindOpenAsync(migrationId) is { } open)
            {
                return open;
            }
        }

        return null;
    }

    /// <summary>Cancels a queued migration in its shard; false when no shard holds it queued.</summary>
    public static async Task<bool> CancelQueuedAsync(IGrainFactory grains, string migrationId, string reason)
    {
        foreach (var shard in Holders(grains, migrationId))
        {
            if (await shard.CancelQueuedAsync(migrationId, reason))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Every shard's migrations, oldest first: the open ones, or with <paramref name="includeEnded"/> the most
    /// recent (each shard answers its last 500; the newest 500 of all are kept).</summary>
    public static async Task<ImmutableArray<MigrationStatus>> ListAsync(IGrainFactory grains, bool includeEnded)
    {
        ArgumentNullException.ThrowIfNull(grains);
        var lists = await Task.WhenAll(Enumerable.Range(0, IMigrationSchedulerGrain.Shards).Select(s => Shard(grains, s).ListAsync(includeEnded)));
        var all = lists.SelectMany(l => l).GroupBy(m => m.MigrationId, StringComparer.Ordinal).Select(g => g.First()).OrderBy(m => m.CreatedAt);
        return includeEnded ? [.. all.TakeLast(500)] : [.. all];
    }
}

/// <summary>The scheduler as its callers use it, whichever shard holds what (<see cref="SchedulerShards"/>).</summary>
public readonly struct SchedulerRouter(IGrainFactory grainFactory)
{
    private readonly IGrainFactory grains = grainFactory;

    public Task<MigrationStatus> SubmitAsync(MigrationRequest request, string? sourceHost = null) => SchedulerShards.SubmitAsync(grains, request, sourceHost);

    public Task<MigrationStatus?> FindOpenAsync(string migrationId) => SchedulerShards.FindOpenAsync(grains, migrationId);

    public Task<bool> CancelQueuedAsync(string migrationId, string reason) => SchedulerShards.CancelQueuedAsync(grains, migrationId, reason);

    public Task<ImmutableArray<MigrationStatus>> ListAsync(bool includeEnded) => SchedulerShards.ListAsync(grains, includeEnded);

    /// <summary>The open migrations out of <paramref name="hostId"/>: its shard's (and shard 0's, which may hold some
    /// from before sharding), not every shard's.</summary>
    public async Task<ImmutableArray<MigrationStatus>> ListOpenFromAsync(string hostId)
    {
        var own = SchedulerShards.OfHost(hostId);
        var factory = grains;
        var lists = await Task.WhenAll((own == 0 ? [0] : new[] { own, 0 }).Select(s => SchedulerShards.Shard(factory, s).ListAsync(includeEnded: false)));
        return [.. lists.SelectMany(l => l).Where(m => m.SourceHost == hostId)];
    }
}

/// <summary>What a shard answers a submit: the new migration's status, or the host the VM moved to (submit there).</summary>
[GenerateSerializer, Immutable]
[Alias("omig.SubmitOutcome")]
public sealed record SubmitOutcome([property: Id(0)] MigrationStatus? Status, [property: Id(1)] string? MovedTo);

/// <summary>One admitted (or candidate) migration as the admission ledger counts it.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.AdmissionSlot")]
public sealed record AdmissionSlot(
    [property: Id(0)] string MigrationId,
    [property: Id(1)] string VmId,
    [property: Id(2)] string SourceHost,
    [property: Id(3)] string DestinationHost,
    [property: Id(4)] MigrationPriority Priority);

/// <summary>The ledger's answer to a shard: the candidates granted a slot (in the order asked) and, for each other one, the
/// limit that holds it back in words.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.AdmissionDecision")]
public sealed record AdmissionDecision(
    [property: Id(0)] ImmutableArray<string> Granted,
    [property: Id(1)] ImmutableDictionary<string, string> Refused);

/// <summary>
/// The concurrency slots of migration admission across the scheduler shards (one activation, key <see cref="Key"/>,
/// state in memory): at most <c>MaxPerCluster</c> in flight, <c>MaxOutboundPerHost</c> out of and
/// <c>MaxInboundPerHost</c> into any host, one per VM, maintenance before user requests. Each shard reports the slots
/// it holds with every request (the ledger takes that as the truth for the shard), so a lost release heals at the shard's
/// next pass and a new activation rebuilds by asking every shard.
/// </summary>
[Alias("omig.IAdmissionLedgerGrain")]
public interface IAdmissionLedgerGrain : IGrainWithStringKey
{
    const string Key = "admission";

    /// <summary>Records <paramref name="held"/> as everything <paramref name="shard"/> holds, then grants what the limits
    /// allow of <paramref name="candidates"/> (in the order given: the shard's priority order).</summary>
    [Alias("TryAdmit")]
    Task<AdmissionDecision> TryAdmitAsync(int shard, ImmutableArray<AdmissionSlot> held, ImmutableArray<AdmissionSlot> candidates);
}
