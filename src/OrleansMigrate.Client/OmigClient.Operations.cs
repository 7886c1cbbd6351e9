using System.Collections.Immutable;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Connections.Security;
using OrleansMigrate.Agents;
using OrleansMigrate.Audit;
using OrleansMigrate.Cluster;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Client;

/// <summary>Fleet operations: host drains and rolling-upgrade campaigns.</summary>
public sealed partial class OmigClient
{
    /// <summary>Cordons the host and migrates every VM away (or returns the drain already running).</summary>
    public async Task<Operations.DrainStatus> DrainHostAsync(string hostId, Operations.DrainOptions? options = null)
    {
        await GetHostAsync(hostId);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).StartAsync(options ?? new Operations.DrainOptions());
    }

    /// <summary>The current or last drain of the host; NotFound when it was never drained.</summary>
    public async Task<Operations.DrainStatus> GetDrainAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).GetAsync()
            ?? throw OmigException.NotFound("drain", $"host '{hostId}' has never been drained");
    }

    /// <summary>The current or last drain of the host, or null when it was never drained.</summary>
    public async Task<Operations.DrainStatus?> GetDrainOrNullAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).GetAsync();
    }

    /// <summary>The host's earlier drains, newest first (empty when it was drained at most once).</summary>
    public async Task<ImmutableArray<Operations.DrainStatus>> GetDrainHistoryAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).GetHistoryAsync();
    }

    /// <summary>Starts a rolling firmware-upgrade campaign; the id is generated (camp-…) unless given.</summary>
    public async Task<Operations.CampaignStatus> StartCampaignAsync(Operations.CampaignSpec spec, string? campaignId = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var id = campaignId ?? "camp-" + Guid.NewGuid().ToString("N")[..10];
        FleetValidation.RequireId("campaign", id);
        return await Grains.GetGrain<Operations.ICampaignGrain>(id).StartAsync(spec);
    }

    public async Task<Operations.CampaignStatus> GetCampaignAsync(string campaignId)
    {
        FleetValidation.RequireId("campaign", campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).GetAsync()
            ?? throw OmigException.NotFound("campaign", $"campaign '{campaignId}' does not exist");
    }

    /// <summary>The drains and campaigns running now (a drain's id is its host's).</summary>
    public Task<ImmutableArray<Operations.FleetOperationRef>> ListRunningOperationsAsync() =>
        Grains.GetGrain<Operations.IRunningOperationsGrain>(Operations.IRunningOperationsGrain.Key).ListAsync();

    /// <summary>Unlists an operation found ended whose own unlisting failed; nothing when it runs (its grain decides).</summary>
    public Task PruneRunningOperationAsync(Operations.FleetOperationRef operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        return operation.Kind == Operations.FleetOperationKind.Drain
            ? Grains.GetGrain<Operations.IHostDrainGrain>(operation.Id).UnlistIfEndedAsync()
            : Grains.GetGrain<Operations.ICampaignGrain>(operation.Id).UnlistIfEndedAsync();
    }

    /// <summary>A campaign's counts and hosts in progress, without its whole host list.</summary>
    public async Task<Operations.CampaignSummary> GetCampaignSummaryAsync(string campaignId)
    {
        FleetValidation.RequireId("campaign", campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).GetSummaryAsync()
            ?? throw OmigException.NotFound("campaign", $"campaign '{campaignId}' does not exist");
    }

    public async Task<ImmutableArray<Operations.CampaignStatus>> ListCampaignsAsync()
    {
        var ids = await Grains.GetGrain<Operations.ICampaignDirectoryGrain>(Operations.ICampaignDirectoryGrain.Key).ListAsync();
        var all = await Task.WhenAll(ids.Select(id => Grains.GetGrain<Operations.ICampaignGrain>(id).GetAsync()));
        return [.. all.OfType<Operations.CampaignStatus>().OrderBy(c => c.CreatedAt)];
    }

    public async Task<Operations.CampaignStatus> PauseCampaignAsync(string campaignId, string reason)
    {
        FleetValidation.RequireId("campaign", campaignId);
        RequireReason(reason);
        await GetCampaignAsync(campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).PauseAsync(reason);
    }

    public async Task<Operations.CampaignStatus> ResumeCampaignAsync(string campaignId)
    {
        await GetCampaignAsync(campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).ResumeAsync();
    }

    /// <summary>Cancels: hosts not started are skipped, drains in progress aborted (their hosts back in service).</summary>
    public async Task<Operations.CampaignStatus> CancelCampaignAsync(string campaignId, string reason)
    {
        FleetValidation.RequireId("campaign", campaignId);
        RequireReason(reason);
        await GetCampaignAsync(campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).CancelAsync(reason);
    }

    private static void RequireReason(string reason)
    {
        if (string.IsNullOrWhiteSpace(reason) || reason.Length > 500)
        {
            throw OmigException.Invalid("reason", "must be 1-500 characters");
        }
    }

    /// <summary>Stops a drain: queued migrations cancelled, running ones finish or roll back; the host stays cordoned.</summary>
    public async Task<Operations.DrainStatus> AbortDrainAsync(string hostId, string reason)
    {
        FleetValidation.RequireId("host", hostId);
        RequireReason(reason);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).AbortAsync(reason);
    }
}
