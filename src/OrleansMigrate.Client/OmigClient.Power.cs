using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Client;

/// <summary>Power management: plans that empty and power off hosts, host power on/off, room on demand.</summary>
public sealed partial class OmigClient
{
    private IPowerGrain Power => Grains.GetGrain<IPowerGrain>(IPowerGrain.Key);

    /// <summary>Plans which hosts to empty and power off keeping <paramref name="headroomPercent"/> (0–90) of cores and
    /// memory free in every failure domain, or in <paramref name="domain"/> alone (nothing moves yet).</summary>
    public Task<PowerPlanStatus> PlanPowerAsync(int headroomPercent = 20, string? domain = null)
    {
        if (headroomPercent is < 0 or > 90)
        {
            throw OmigException.Invalid("headroom", $"must be between 0 and 90 percent, got {headroomPercent}");
        }

        return Power.PlanAsync(headroomPercent, domain);
    }

    /// <summary>Applies the stored power plan (its hosts are drained and powered off in the background).</summary>
    public Task<PowerPlanStatus> ApplyPowerPlanAsync() => Power.ApplyAsync();

    public Task<PowerStatus> GetPowerAsync() => Power.GetAsync();

    /// <summary>Powers a host on or off and waits for it; off is refused for a host with VMs or when its failure domain
    /// would be left under the headroom.</summary>
    public Task<HostRecord> SetHostPowerAsync(string hostId, HostPowerState power, string reason = "operator")
    {
        FleetValidation.RequireId("host", hostId);
        return Power.SetHostPowerAsync(hostId, power, reason);
    }

    /// <summary>Makes room for a VM of this size before a create: powers on the cheapest powered-off host that has it
    /// when no powered-on host has. Returns that host, or null when none had to be powered on.</summary>
    public Task<string?> EnsureRoomAsync(int vcpus, long memoryMiB, ImmutableArray<string> requiredCpuFeatures = default, string? domain = null) =>
        Power.EnsureRoomAsync(vcpus, memoryMiB, requiredCpuFeatures.IsDefault ? [] : requiredCpuFeatures, domain);
}
