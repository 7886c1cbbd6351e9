namespace OrleansMigrate.Grains.Cloud;

/// <summary>
/// The central VPC controller: installs the flows that deliver an IP's packets to a host, and the relay
/// routes that forward packets still arriving at a migration's source host to its destination. Flow
/// installation is slow (tens of flows per NIC, installed one by one); relay switches are light. Every
/// action is idempotent. Refusals are <see cref="Errors.OmigException"/>.
/// </summary>
public interface INetworkManagerBackend
{
    /// <summary>Stages a disabled relay for <paramref name="ip"/> from <paramref name="fromHost"/> to
    /// <paramref name="toHost"/>. Refused when the VPC already has a different relay for that IP.</summary>
    Task StageRelayAsync(string vpcId, string ip, string fromHost, string toHost, CancellationToken cancellationToken = default);

    /// <summary>Enables or disables the relay for <paramref name="ip"/> (light).</summary>
    Task SetRelayEnabledAsync(string vpcId, string ip, string fromHost, string toHost, bool enabled, CancellationToken cancellationToken = default);

    /// <summary>Removes the relay for <paramref name="ip"/>. No effect when there is none.</summary>
    Task RemoveRelayAsync(string vpcId, string ip, CancellationToken cancellationToken = default);

    /// <summary>Installs the flows of <paramref name="ip"/> on <paramref name="hostId"/>, so its packets go
    /// there directly (slow: every flow of the NIC, one by one).</summary>
    Task InstallFlowsAsync(string vpcId, string ip, string hostId, CancellationToken cancellationToken = default);

    /// <summary>A new NIC's flows, placed as its VM is created on <paramref name="hostId"/>: every other member of the VPC
    /// and its gateway send <paramref name="ip"/>'s packets to that host (the host itself delivers them once the VM's NIC
    /// is attached there). A manager that makes a NIC's flows only when a migration installs them (the simulated one)
    /// does nothing here.</summary>
    Task PlaceFlowsAsync(string vpcId, string ip, string hostId, CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <summary>Removes every flow of <paramref name="ip"/> (its VM was deleted). No effect when there is none.</summary>
    Task RemoveFlowsAsync(string vpcId, string ip, CancellationToken cancellationToken = default) => Task.CompletedTask;
}
