using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>Persisted state of <see cref="RunningOperationsGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.RunningOperationsState")]
public sealed class RunningOperationsState
{
    [Id(0)] public ImmutableList<FleetOperationRef> Operations { get; set; } = [];
}

/// <summary>The running drains and campaigns. A change is written before it returns; a failed write restores memory.</summary>
[ControlPlanePlacement]
public sealed class RunningOperationsGrain(
    [PersistentState("running-operations", StorageNames.Fleet)] IPersistentState<RunningOperationsState> state) : Grain, IRunningOperationsGrain
{
    public Task AddAsync(FleetOperationRef operation)
    {
        Require(operation);
        return state.State.Operations.Contains(operation) ? Task.CompletedTask : UpdateAsync(state.State.Operations.Add(operation));
    }

    public Task RemoveAsync(FleetOperationRef operation)
    {
        Require(operation);
        return state.State.Operations.Contains(operation) ? UpdateAsync(state.State.Operations.Remove(operation)) : Task.CompletedTask;
    }

    public Task<ImmutableArray<FleetOperationRef>> ListAsync() => Task.FromResult(state.State.Operations
        .OrderByDescending(o => o.Kind).ThenBy(o => o.Id, StringComparer.Ordinal).ToImmutableArray());

    private static void Require(FleetOperationRef operation)
    {
        if (operation is null || string.IsNullOrEmpty(operation.Id) || !Enum.IsDefined(operation.Kind))
        {
            throw OmigException.Invalid("operation", "needs a known kind and an id");
        }
    }

    private async Task UpdateAsync(ImmutableList<FleetOperationRef> after)
    {
        var before = state.State.Operations;
        state.State.Operations = after;
        await state.WriteOrRevertAsync(() => state.State.Operations = before);
    }
}

/// <summary>How a drain or campaign lists and unlists itself: listing happens before the operation starts (a failure
/// fails the start, so nothing runs unlisted); unlisting after its end is stored never fails the operation — a failure is
/// logged, and the stale entry is removed by the next reader that finds the operation ended.</summary>
public static partial class RunningOperations
{
    public static Task ListAsync(IGrainFactory grains, FleetOperationRef operation) =>
        grains.GetGrain<IRunningOperationsGrain>(IRunningOperationsGrain.Key).AddAsync(operation);

    /// <summary>Lists a running operation again on its activation (one stored before listing existed, or whose listing
    /// entry was lost): best effort, logged when it fails.</summary>
    public static async Task RelistAsync(IGrainFactory grains, FleetOperationRef operation, ILogger logger)
    {
        try
        {
            await ListAsync(grains, operation);
        }
        catch (Exception ex)
        {
            LogRelistFailed(logger, operation.Kind, operation.Id, ex.GetBaseException().Message);
        }
    }

    public static async Task UnlistAsync(IGrainFactory grains, FleetOperationRef operation, ILogger logger)
    {
        try
        {
            await grains.GetGrain<IRunningOperationsGrain>(IRunningOperationsGrain.Key).RemoveAsync(operation);
        }
        catch (Exception ex)
        {
            LogUnlistFailed(logger, operation.Kind, operation.Id, ex.GetBaseException().Message);
        }
    }

    [LoggerMessage(EventId = 5301, Level = LogLevel.Warning, Message = "Running operations: {Kind} {Id} ended but could not be unlisted ({Error}); the next reader that finds it ended removes it")]
    private static partial void LogUnlistFailed(ILogger logger, FleetOperationKind kind, string id, string error);

    [LoggerMessage(EventId = 5302, Level = LogLevel.Warning, Message = "Running operations: {Kind} {Id} runs but could not be listed on activation ({Error}); watchers do not see it until it is")]
    private static partial void LogRelistFailed(ILogger logger, FleetOperationKind kind, string id, string error);
}
