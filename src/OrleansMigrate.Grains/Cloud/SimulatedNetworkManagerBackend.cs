using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Grains.Cloud;

/// <summary>
/// An in-memory central VPC controller with the latencies of <see cref="CloudBackendOptions"/>. Each action
/// reports to the <see cref="IFaultInjector"/>, waits its latency, then applies its change atomically, so
/// <see cref="Inspect"/> shows what a real controller would hold. It records the flows installed through it
/// (repoints), not those a VM was created with.
/// </summary>
/// <remarks>The controller lives in this silo's memory: a relay it has not seen (staged by another silo's
/// simulation, or before this process started) is installed as it is switched.</remarks>
public sealed class SimulatedNetworkManagerBackend : INetworkManagerBackend
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Vpc> _vpcs = new(StringComparer.Ordinal);
    private readonly CloudBackendOptions _options;
    private readonly IFaultInjector _faults;
    private readonly TimeProvider _time;

    public SimulatedNetworkManagerBackend(CloudBackendOptions options, IFaultInjector faults, TimeProvider time)
    {
        CloudBackendOptionsValidator.ThrowIfInvalid(options);
        ArgumentNullException.ThrowIfNull(faults);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _faults = faults;
        _time = time;
    }

    /// <summary>What the controller holds for <paramref name="vpcId"/> (empty when it has seen nothing).</summary>
    public NetworkManagerVpc Inspect(string vpcId)
    {
        lock (_lock)
        {
            return _vpcs.TryGetValue(vpcId, out var vpc)
                ? new NetworkManagerVpc(vpcId, vpc.FlowHosts.ToImmutableDictionary(StringComparer.Ordinal), vpc.Relays.ToImmutableDictionary(StringComparer.Ordinal))
                : new NetworkManagerVpc(vpcId, ImmutableDictionary<string, string>.Empty, ImmutableDictionary<string, NetworkManagerRelay>.Empty);
        }
    }

    public async Task StageRelayAsync(string vpcId, string ip, string fromHost, string toHost, CancellationToken cancellationToken = default)
    {
        await _faults.BeforeAsync(FaultSteps.VpcStageRelay, ip, cancellationToken);
        await DelayAsync(_options.RelayStageMs, cancellationToken);
        lock (_lock)
        {
            var vpc = GetOrAdd(vpcId);
            if (vpc.Relays.TryGetValue(ip, out var existing))
            {
                RequireSameRoute(vpcId, ip, existing, fromHost, toHost);
                return;
            }

            vpc.Relays[ip] = new NetworkManagerRelay(fromHost, toHost, Enabled: false);
        }
    }

    public async Task SetRelayEnabledAsync(string vpcId, string ip, string fromHost, string toHost, bool enabled, CancellationToken cancellationToken = default)
    {
        await _faults.BeforeAsync(enabled ? FaultSteps.VpcEnableRelay : FaultSteps.VpcDisableRelay, ip, cancellationToken);
        await DelayAsync(_options.RelaySwitchMs, cancellationToken);
        lock (_lock)
        {
            var vpc = GetOrAdd(vpcId);
            if (vpc.Relays.TryGetValue(ip, out var existing))
            {
                RequireSameRoute(vpcId, ip, existing, fromHost, toHost);
            }

            vpc.Relays[ip] = new NetworkManagerRelay(fromHost, toHost, enabled);
        }
    }

    public async Task RemoveRelayAsync(string vpcId, string ip, CancellationToken cancellationToken = default)
    {
        await _faults.BeforeAsync(FaultSteps.VpcRemoveRelay, ip, cancellationToken);
        await DelayAsync(_options.RelayRemoveMs, cancellationToken);
        lock (_lock)
        {
            GetOrAdd(vpcId).Relays.Remove(ip);
        }
    }

    public async Task InstallFlowsAsync(string vpcId, string ip, string hostId, CancellationToken cancellationToken = default)
    {
        await _faults.BeforeAsync(FaultSteps.VpcRepointFlow, ip, cancellationToken);

        // One timer for the whole NIC rather than one per flow: the same pace without a timer tick per flow.
        if (_options.FlowInstallTime > TimeSpan.Zero)
        {
            await Task.Delay(_options.FlowInstallTime, _time, cancellationToken);
        }

        lock (_lock)
        {
            GetOrAdd(vpcId).FlowHosts[ip] = hostId;
        }
    }

    private static void RequireSameRoute(string vpcId, string ip, NetworkManagerRelay existing, string fromHost, string toHost)
    {
        if (existing.FromHost != fromHost || existing.ToHost != toHost)
        {
            throw OmigException.Conflict("ip",
                $"the network manager holds a relay for '{ip}' in VPC '{vpcId}' from '{existing.FromHost}' to '{existing.ToHost}', not from '{fromHost}' to '{toHost}'");
        }
    }

    private Vpc GetOrAdd(string vpcId)
    {
        if (!_vpcs.TryGetValue(vpcId, out var vpc))
        {
            vpc = new Vpc();
            _vpcs[vpcId] = vpc;
        }

        return vpc;
    }

    private Task DelayAsync(int milliseconds, CancellationToken cancellationToken) =>
        SimulatedLatency.DelayAsync(_time, milliseconds, cancellationToken);

    private sealed class Vpc
    {
        public Dictionary<string, string> FlowHosts { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, NetworkManagerRelay> Relays { get; } = new(StringComparer.Ordinal);
    }
}
