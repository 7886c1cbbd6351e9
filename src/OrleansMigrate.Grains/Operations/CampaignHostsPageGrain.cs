using System.Collections.Immutable;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Grains.Operations;

/// <summary>Persisted state of <see cref="CampaignHostsPageGrain"/>. Keep the type name stable.</summary>
[GenerateSerializer]
[Alias("omig.CampaignHostsPageState")]
public sealed class CampaignHostsPageState
{
    [Id(0)] public ImmutableArray<CampaignHost> Hosts { get; set; } = [];
}

/// <summary>See <see cref="ICampaignHostsPageGrain"/>. A failed write leaves memory as stored.</summary>
[ControlPlanePlacement]
public sealed class CampaignHostsPageGrain(
    [PersistentState("campaign-hosts", StorageNames.Fleet)] IPersistentState<CampaignHostsPageState> state) : Grain, ICampaignHostsPageGrain
{
    public Task<ImmutableArray<CampaignHost>> GetAsync() => Task.FromResult(state.State.Hosts);

    public async Task SetAsync(ImmutableArray<CampaignHost> hosts)
    {
        if (hosts.IsDefault || hosts.Length > ICampaignHostsPageGrain.PageSize)
        {
            throw new ArgumentException($"a page holds 0 to {ICampaignHostsPageGrain.PageSize} hosts", nameof(hosts));
        }

        var before = state.State.Hosts;
        state.State.Hosts = hosts;
        await state.WriteOrRevertAsync(() => state.State.Hosts = before);
    }
}
