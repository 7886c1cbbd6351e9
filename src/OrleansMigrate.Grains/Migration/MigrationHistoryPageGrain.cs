using System.Collections.Immutable;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>See <see cref="IMigrationHistoryPageGrain"/>. A failed write leaves memory as stored.</summary>
[ControlPlanePlacement]
public sealed class MigrationHistoryPageGrain(
    [PersistentState("scheduler-history", StorageNames.Fleet)] IPersistentState<MigrationHistoryPageState> state) : Grain, IMigrationHistoryPageGrain
{
    public Task<ImmutableArray<string>> GetAsync(long page) => Task.FromResult(state.State.Page == page ? state.State.Ids : []);

    public async Task SetAsync(long page, ImmutableArray<string> ids)
    {
        var (beforePage, beforeIds) = (state.State.Page, state.State.Ids);
        (state.State.Page, state.State.Ids) = (page, ids.IsDefault ? [] : ids);
        await state.WriteOrRevertAsync(() => (state.State.Page, state.State.Ids) = (beforePage, beforeIds));
    }
}
