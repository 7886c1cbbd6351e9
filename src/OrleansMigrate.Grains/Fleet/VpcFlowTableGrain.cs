using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// One VPC's flow table. Every change goes to the network manager (<see cref="INetworkManagerBackend"/>) first
/// and is persisted after, so a failed action changes nothing. Changes run one at a time, except
/// <see cref="RepointFlowAsync"/>: its slow flow install interleaves with everything else and touches no
/// state; its result is committed by a call of this grain to itself (<see cref="IVpcFlowCommitGrain"/>), a
/// request that runs alone like every other change, so no change and no storage write ever overlap, and a
/// relay switch never waits for another VM's flow install.
/// </summary>
/// <remarks>
/// <para>Tear-down requests (disabling or removing a relay) are no-ops for a relay the owner does not hold,
/// missing or another owner's, like <see cref="RemoveFlowAsync"/>: the state asked for already holds.</para>
/// <para>A write costs what it changes, not the size of the VPC: the relays (a handful, short-lived) are this
/// grain's own state; the flows are stored in <see cref="VpcFlowShards.Count"/> <see cref="IVpcFlowShardGrain"/>
/// pages, so a flow add or repoint writes one page of ~1/<see cref="VpcFlowShards.Count"/> of the flows, and a
/// relay change writes no flow at all. This grain is the pages' only caller and keeps all of them in memory, so
/// checks and reads (<see cref="GetAsync"/> included) stay local.</para>
/// </remarks>
[ControlPlanePlacement]
public sealed partial class VpcFlowTableGrain(
    [PersistentState("vpc", StorageNames.Fleet)] IPersistentState<VpcFlowTableGrainState> state,
    INetworkManagerBackend network,
    ILogger<VpcFlowTableGrain> logger) : Grain, IVpcFlowTableGrain, IVpcFlowCommitGrain
{
    private const int MaxOwnerIdLength = 128;

    // Repoints whose install is in flight, by IP: a replay joins its install, a repoint of the same IP
    // elsewhere is refused until it ends. Read and written only on this activation's turns, never in parallel.
    private readonly Dictionary<string, InFlightRepoint> _repoints = new(StringComparer.Ordinal);

    private string VpcId => this.GetPrimaryKeyString();

    private ImmutableArray<RelayRoute> Relays => state.State.Relays.IsDefault ? [] : state.State.Relays;

    public async Task<VpcFlowTable> GetAsync()
    {
        await EnsureAllShardsLoadedAsync();
        return new VpcFlowTable(VpcId, _flows, Relays);
    }

    public async Task AddFlowAsync(FlowEntry flow)
    {
        RequireIp(flow.Ip);
        FleetValidation.RequireId("vm_id", flow.VmId);
        FleetValidation.RequireId("host", flow.HostId);
        await EnsureShardLoadedAsync(flow.Ip);
        if (_flows.TryGetValue(flow.Ip, out var existing))
        {
            if (existing == flow)
            {
                return;
            }

            if (existing.VmId != flow.VmId)
            {
                throw OmigException.Conflict("ip", $"'{flow.Ip}' in VPC '{VpcId}' belongs to VM '{existing.VmId}'");
            }
        }

        // The network first, then the record: a failed placement changes nothing here.
        await network.PlaceFlowsAsync(VpcId, flow.Ip, flow.HostId);
        await WriteFlowAsync(flow.Ip, flow);
    }

    public async Task RemoveFlowAsync(string ip, string vmId)
    {
        if (ip is null)
        {
            return;
        }

        await EnsureShardLoadedAsync(ip);
        if (_flows.TryGetValue(ip, out var existing) && existing.VmId == vmId)
        {
            await network.RemoveFlowsAsync(VpcId, ip);
            await WriteFlowAsync(ip, null);
        }
    }

    public async Task<string?> ResolveAsync(string ip)
    {
        if (ip is null)
        {
            return null;
        }

        await EnsureShardLoadedAsync(ip);
        if (!_flows.TryGetValue(ip, out var flow))
        {
            return null;
        }

        var relay = Relays.FirstOrDefault(r => r.Ip == ip && r.Enabled && r.FromHost == flow.HostId);
        return relay?.ToHost ?? flow.HostId;
    }

    public async Task StageRelayAsync(string ip, string fromHost, string toHost, string ownerId)
    {
        RequireIp(ip);
        FleetValidation.RequireId("from_host", fromHost);
        FleetValidation.RequireId("to_host", toHost);
        RequireOwner(ownerId);
        if (fromHost == toHost)
        {
            throw OmigException.Invalid("to_host", $"'{toHost}' is also the relay's from_host");
        }

        await EnsureShardLoadedAsync(ip);
        if (!_flows.ContainsKey(ip))
        {
            throw OmigException.NotFound("ip", $"VPC '{VpcId}' has no flow for '{ip}' to relay");
        }

        if (FindRelay(ip) is { } existing)
        {
            if (existing.OwnerId != ownerId)
            {
                throw OmigException.Conflict("ip", $"'{ip}' in VPC '{VpcId}' already has a relay, owned by '{existing.OwnerId}'");
            }

            if (existing.FromHost == fromHost && existing.ToHost == toHost)
            {
                return;
            }

            throw OmigException.Conflict("ip",
                $"the relay of '{ip}' in VPC '{VpcId}' owned by '{ownerId}' runs from '{existing.FromHost}' to '{existing.ToHost}'; remove it before staging another");
        }

        await network.StageRelayAsync(VpcId, ip, fromHost, toHost);
        await SaveRelaysAsync(Relays.Add(new RelayRoute(ip, fromHost, toHost, Enabled: false, ownerId)));
        LogRelay(logger, VpcId, ip, "staged", fromHost, toHost, ownerId);
    }

    public async Task SetRelayEnabledAsync(string ip, string ownerId, bool enabled)
    {
        RequireIp(ip);
        RequireOwner(ownerId);
        var relay = FindRelay(ip);
        if (relay is null || relay.OwnerId != ownerId)
        {
            if (!enabled)
            {
                return;
            }

            throw relay is null
                ? OmigException.NotFound("ip", $"VPC '{VpcId}' has no relay staged for '{ip}'")
                : OmigException.Conflict("ip", $"the relay of '{ip}' in VPC '{VpcId}' is owned by '{relay.OwnerId}'");
        }

        if (relay.Enabled == enabled)
        {
            return;
        }

        await network.SetRelayEnabledAsync(VpcId, ip, relay.FromHost, relay.ToHost, enabled);
        await SaveRelaysAsync([.. Relays.Select(r => r.Ip == ip ? r with { Enabled = enabled } : r)]);
        LogRelay(logger, VpcId, ip, enabled ? "enabled" : "disabled", relay.FromHost, relay.ToHost, ownerId);
    }

    public async Task RemoveRelayAsync(string ip, string ownerId)
    {
        RequireIp(ip);
        RequireOwner(ownerId);
        if (FindRelay(ip) is not { } relay || relay.OwnerId != ownerId)
        {
            return;
        }

        await network.RemoveRelayAsync(VpcId, ip);
        await SaveRelaysAsync(Relays.RemoveAll(r => r.Ip == ip));
        LogRelay(logger, VpcId, ip, "removed", relay.FromHost, relay.ToHost, ownerId);
    }

    public Task RepointFlowAsync(string ip, string vmId, string toHost)
    {
        RequireIp(ip);
        FleetValidation.RequireId("vm_id", vmId);
        FleetValidation.RequireId("host", toHost);

        // This request interleaves, so it must not load a shard itself (a change could land meanwhile and the
        // load then bring back the older page): it asks for the load as a request that runs alone.
        return IsShardLoaded(ip) ? StartRepoint(ip, vmId, toHost) : LoadShardThenRepointAsync(ip, vmId, toHost);
    }

    private async Task LoadShardThenRepointAsync(string ip, string vmId, string toHost)
    {
        await this.AsReference<IVpcFlowCommitGrain>().LoadFlowShardAsync(ip);
        await StartRepoint(ip, vmId, toHost);
    }

    /// <summary>The repoint proper, once the flow's shard is in memory; registers an install in flight without
    /// an await between the check and the registration.</summary>
    private Task StartRepoint(string ip, string vmId, string toHost)
    {
        var flow = RequireFlowOf(ip, vmId);
        if (_repoints.TryGetValue(ip, out var inFlight))
        {
            return inFlight.ToHost == toHost && inFlight.VmId == vmId
                ? inFlight.Task
                : throw OmigException.Conflict("ip", $"the flow of '{ip}' in VPC '{VpcId}' is being repointed to '{inFlight.ToHost}'");
        }

        if (flow.HostId == toHost)
        {
            return Task.CompletedTask;
        }

        var repoint = InstallAndCommitAsync(ip, vmId, toHost);
        if (!repoint.IsCompleted)
        {
            _repoints[ip] = new InFlightRepoint(vmId, toHost, repoint);
        }

        return repoint;
    }

    async Task IVpcFlowCommitGrain.CommitFlowHostAsync(string ip, string vmId, string toHost)
    {
        await EnsureShardLoadedAsync(ip);
        var flow = RequireFlowOf(ip, vmId);
        if (flow.HostId == toHost)
        {
            return;
        }

        await WriteFlowAsync(ip, flow with { HostId = toHost });
        LogFlowRepointed(logger, VpcId, ip, vmId, flow.HostId, toHost);
    }

    private async Task InstallAndCommitAsync(string ip, string vmId, string toHost)
    {
        try
        {
            // The slow install touches no state, so other requests run meanwhile; the commit re-checks the
            // flow and runs alone, as a request of this grain to itself.
            await network.InstallFlowsAsync(VpcId, ip, toHost);
            await this.AsReference<IVpcFlowCommitGrain>().CommitFlowHostAsync(ip, vmId, toHost);
        }
        finally
        {
            // When the install fails before its first await this runs before the caller registers the
            // repoint, and the caller then does not register it.
            _repoints.Remove(ip);
        }
    }

    private FlowEntry RequireFlowOf(string ip, string vmId)
    {
        if (!_flows.TryGetValue(ip, out var flow))
        {
            throw OmigException.NotFound("ip", $"VPC '{VpcId}' has no flow for '{ip}'");
        }

        return flow.VmId == vmId
            ? flow
            : throw OmigException.Conflict("ip", $"'{ip}' in VPC '{VpcId}' belongs to VM '{flow.VmId}', not '{vmId}'");
    }

    private RelayRoute? FindRelay(string ip) => Relays.FirstOrDefault(r => r.Ip == ip);

    /// <summary>Persists <paramref name="relays"/> (this grain's own small row); on a storage failure the grain keeps
    /// the relays it had, so it never answers with state it did not store.</summary>
    private async Task SaveRelaysAsync(ImmutableArray<RelayRoute> relays)
    {
        var before = state.State.Relays;
        state.State.Relays = relays;
        await state.WriteOrRevertAsync(() => state.State.Relays = before);
    }

    private static void RequireIp(string ip)
    {
        if (!FleetValidation.IsValidIpv4(ip))
        {
            throw OmigException.Invalid("ip", $"'{ip}' is not an IPv4 address");
        }
    }

    private static void RequireOwner(string ownerId)
    {
        if (string.IsNullOrEmpty(ownerId))
        {
            throw OmigException.Invalid("owner_id", "is required");
        }

        if (ownerId.Length > MaxOwnerIdLength || ownerId.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw OmigException.Invalid("owner_id", $"must be 1-{MaxOwnerIdLength} characters without spaces or control characters");
        }
    }

    [LoggerMessage(EventId = 6201, Level = LogLevel.Information, Message = "VPC {VpcId}: relay of {Ip} {Change} ({FromHost} -> {ToHost}, owner {OwnerId})")]
    private static partial void LogRelay(ILogger logger, string vpcId, string ip, string change, string fromHost, string toHost, string ownerId);

    [LoggerMessage(EventId = 6202, Level = LogLevel.Information, Message = "VPC {VpcId}: flow of {Ip} (VM {VmId}) repointed from {FromHost} to {ToHost}")]
    private static partial void LogFlowRepointed(ILogger logger, string vpcId, string ip, string vmId, string fromHost, string toHost);

    private sealed record InFlightRepoint(string VmId, string ToHost, Task Task);
}

/// <summary>The commit half of <see cref="VpcFlowTableGrain.RepointFlowAsync"/>, called by the grain on itself
/// so that it runs as a request that does not interleave.</summary>
[Alias("omig.IVpcFlowCommitGrain")]
internal interface IVpcFlowCommitGrain : IGrainWithStringKey
{
    /// <summary>Points the flow of <paramref name="ip"/> at <paramref name="toHost"/> once its flows are
    /// installed there; refused when the flow is gone or owned by another VM meanwhile.</summary>
    [Alias("CommitFlowHost")]
    Task CommitFlowHostAsync(string ip, string vmId, string toHost);

    /// <summary>Loads the flow shard of <paramref name="ip"/> into memory if it is not, as a request that runs
    /// alone (for <see cref="IVpcFlowTableGrain.RepointFlowAsync"/>, which interleaves).</summary>
    [Alias("LoadFlowShard")]
    Task LoadFlowShardAsync(string ip);
}
