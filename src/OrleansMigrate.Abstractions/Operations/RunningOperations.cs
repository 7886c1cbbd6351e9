using System.Collections.Immutable;

namespace OrleansMigrate.Operations;

/// <summary>The kinds of fleet operation that run for a while and report progress.</summary>
public enum FleetOperationKind
{
    /// <summary>A host drain; its id is the host id.</summary>
    Drain = 0,

    /// <summary>A firmware-upgrade campaign; its id is the campaign id.</summary>
    Campaign = 1,
}

/// <summary>One running fleet operation, by kind and id.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.FleetOperationRef")]
public sealed record FleetOperationRef([property: Id(0)] FleetOperationKind Kind, [property: Id(1)] string Id);

/// <summary>
/// The drains and campaigns running now (one activation, key <see cref="Key"/>), so a watcher (the API's
/// <c>/v1/events</c>) follows the few that run instead of asking every host whether it is being drained. A drain or
/// campaign lists itself before it starts and unlists itself once its end is stored; an unlisting that failed leaves an
/// entry for an ended operation, which a reader that finds it ended removes (<see cref="RemoveAsync"/>).
/// </summary>
[Alias("omig.IRunningOperationsGrain")]
public interface IRunningOperationsGrain : IGrainWithStringKey
{
    const string Key = "running-operations";

    /// <summary>Lists <paramref name="operation"/>. Idempotent: nothing is written when it is listed already.</summary>
    [Alias("Add")]
    Task AddAsync(FleetOperationRef operation);

    /// <summary>Unlists <paramref name="operation"/>. Idempotent.</summary>
    [Alias("Remove")]
    Task RemoveAsync(FleetOperationRef operation);

    /// <summary>The listed operations, campaigns first, each kind by id.</summary>
    [Alias("List")]
    Task<ImmutableArray<FleetOperationRef>> ListAsync();
}
