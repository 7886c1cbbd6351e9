using Orleans.Concurrency;

namespace OrleansMigrate.Fleet;

/// <summary>One VPC's flow table (key: VPC id): IP → host flows and relay routes. Its state changes are
/// quick; the slow work of the central network manager (installing flows) happens in
/// <see cref="RepointFlowAsync"/>, which interleaves so that one VM's flow install never delays another
/// VM's relay switch in the same VPC.</summary>
[Alias("omig.IVpcFlowTableGrain")]
public interface IVpcFlowTableGrain : IGrainWithStringKey
{
    [Alias("Get")]
    Task<VpcFlowTable> GetAsync();

    /// <summary>Installs a flow; refused when the IP is owned by another VM. Idempotent.</summary>
    [Alias("AddFlow")]
    Task AddFlowAsync(FlowEntry flow);

    /// <summary>Removes the flow for <paramref name="ip"/> if <paramref name="vmId"/> owns it. Idempotent.</summary>
    [Alias("RemoveFlow")]
    Task RemoveFlowAsync(string ip, string vmId);

    /// <summary>The host that receives packets for <paramref name="ip"/> — through an enabled relay when one
    /// starts at the flow's host — or null when no flow exists.</summary>
    [Alias("Resolve")]
    Task<string?> ResolveAsync(string ip);

    /// <summary>Stages a disabled relay for <paramref name="ip"/> from <paramref name="fromHost"/> to
    /// <paramref name="toHost"/>, owned by <paramref name="ownerId"/> (a migration). Idempotent.</summary>
    [Alias("StageRelay")]
    Task StageRelayAsync(string ip, string fromHost, string toHost, string ownerId);

    /// <summary>Enables or disables the relay owned by <paramref name="ownerId"/> (fast). Idempotent.</summary>
    [Alias("SetRelayEnabled")]
    Task SetRelayEnabledAsync(string ip, string ownerId, bool enabled);

    /// <summary>Removes the relay owned by <paramref name="ownerId"/>. Idempotent.</summary>
    [Alias("RemoveRelay")]
    Task RemoveRelayAsync(string ip, string ownerId);

    /// <summary>Points the flow of <paramref name="ip"/> (owned by <paramref name="vmId"/>) at
    /// <paramref name="toHost"/> through the network manager, at its pace (tens of flows per NIC).
    /// Idempotent.</summary>
    [AlwaysInterleave]
    [Alias("RepointFlow")]
    Task RepointFlowAsync(string ip, string vmId, string toHost);
}
