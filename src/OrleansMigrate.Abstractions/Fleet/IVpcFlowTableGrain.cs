namespace OrleansMigrate.Fleet;

/// <summary>One VPC's flow table (key: VPC id): IP → host flows and relay routes.</summary>
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
}
