using System.Collections.Immutable;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>The list of campaign ids.</summary>
[ControlPlanePlacement]
public sealed class CampaignDirectoryGrain(
    [PersistentState("campaigns", StorageNames.Fleet)] IPersistentState<CampaignDirectoryState> state) : Grain, ICampaignDirectoryGrain
{
    public async Task AddAsync(string campaignId)
    {
        if (!state.State.Ids.Contains(campaignId))
        {
            state.State.Ids = state.State.Ids.Add(campaignId);
            await state.WriteStateAsync();
        }
    }

    public Task<ImmutableArray<string>> ListAsync() => Task.FromResult(state.State.Ids.ToImmutableArray());
}

/// <summary>Persisted state of <see cref="CampaignDirectoryGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.CampaignDirectoryState")]
public sealed class CampaignDirectoryState
{
    [Id(0)] public ImmutableList<string> Ids { get; set; } = [];
}
