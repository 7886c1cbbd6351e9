using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Operations;

/// <summary>Where a power plan is.</summary>
public enum PowerPlanState
{
    /// <summary>Computed; nothing moved yet.</summary>
    Planned = 0,

    /// <summary>Its hosts are being drained and powered off.</summary>
    Applying = 1,

    /// <summary>Every host of the plan is off.</summary>
    Completed = 2,

    /// <summary>Ended with hosts that could not be emptied or powered off (each with its reason; they stay on).</summary>
    Incomplete = 3,
}

/// <summary>Where one host of a power plan is.</summary>
public enum PowerHostState
{
    Pending = 0,
    Draining = 1,
    PoweringOff = 2,
    Off = 3,

    /// <summary>Its drain did not empty it, or the power backend failed: it stays on (and schedulable again).</summary>
    Failed = 4,
}

/// <summary>One host a power plan frees.</summary>
/// <param name="Domain">Its failure domain (the value of the domain label; <c>-</c> when it has none).</param>
/// <param name="Vms">VMs on it when the plan was made.</param>
[GenerateSerializer, Immutable]
[Alias("omig.PowerHostStep")]
public sealed record PowerHostStep(
    [property: Id(0)] string HostId,
    [property: Id(1)] string Domain,
    [property: Id(2)] int Vms,
    [property: Id(3)] PowerHostState State,
    [property: Id(4)] string? Reason = null);

/// <summary>One failure domain's powered-on capacity (hosts that take VMs: on, schedulable, healthy) and use.</summary>
/// <param name="HostsOn">Hosts counted (on and taking VMs).</param>
/// <param name="HostsOff">Hosts of the domain powered off.</param>
/// <param name="HostsFreed">A plan: hosts it powers off here; a status: 0.</param>
/// <param name="Bound">A plan: the most hosts any plan could power off here with the headroom; a status: 0.</param>
[GenerateSerializer, Immutable]
[Alias("omig.PowerDomain")]
public sealed record PowerDomain(
    [property: Id(0)] string Domain,
    [property: Id(1)] int HostsOn,
    [property: Id(2)] int HostsOff,
    [property: Id(3)] long Cores,
    [property: Id(4)] long UsedCores,
    [property: Id(5)] long MemoryMiB,
    [property: Id(6)] long UsedMemoryMiB,
    [property: Id(7)] int HostsFreed = 0,
    [property: Id(8)] int Bound = 0)
{
    /// <summary>Free share of the counted cores, 0–100 (100 when the domain counts no core).</summary>
    public double FreeCoresPercent => Cores == 0 ? 100 : 100.0 * (Cores - UsedCores) / Cores;

    public double FreeMemoryPercent => MemoryMiB == 0 ? 100 : 100.0 * (MemoryMiB - UsedMemoryMiB) / MemoryMiB;

    /// <summary>True when at least <paramref name="headroomPercent"/> % of cores and of memory are free (exact, in integers).</summary>
    public bool Keeps(int headroomPercent) =>
        100 * UsedCores <= (100L - headroomPercent) * Cores && 100 * UsedMemoryMiB <= (100L - headroomPercent) * MemoryMiB;
}

/// <summary>A power plan: the hosts to empty and power off so that every failure domain keeps its headroom, against the
/// most hosts any plan could free (<see cref="Bound"/>).</summary>
/// <param name="DomainLabel">The host label naming a host's failure domain.</param>
/// <param name="Moves">Live migrations the plan found for emptying its hosts (each checked against every placement rule,
/// inside the host's domain); applying drains the hosts, which choose their own destinations inside the domain.</param>
/// <param name="Domains">Each domain as the plan leaves it (powered-on capacity after its hosts are off).</param>
[GenerateSerializer, Immutable]
[Alias("omig.PowerPlanStatus")]
public sealed record PowerPlanStatus(
    [property: Id(0)] string PlanId,
    [property: Id(1)] int HeadroomPercent,
    [property: Id(2)] string DomainLabel,
    [property: Id(3)] PowerPlanState State,
    [property: Id(4)] int HostsFreed,
    [property: Id(5)] int Bound,
    [property: Id(6)] int Moves,
    [property: Id(7)] ImmutableArray<PowerHostStep> Hosts,
    [property: Id(8)] ImmutableArray<PowerDomain> Domains,
    [property: Id(9)] ImmutableArray<string> Notes,
    [property: Id(10)] double PlanSeconds,
    [property: Id(11)] DateTimeOffset CreatedAt,
    [property: Id(12)] DateTimeOffset? EndedAt = null)
{
    public bool IsEnded => State is PowerPlanState.Completed or PowerPlanState.Incomplete;
}

/// <summary>A host powered on or off, by whom and why.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.PowerEvent")]
public sealed record PowerEvent(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string HostId,
    [property: Id(2)] HostPowerState Power,
    [property: Id(3)] string Reason);

/// <summary>What <c>omig power show</c> prints: the fleet's domains now, the hosts off, the last plan, recent power events.</summary>
/// <param name="HeadroomPercent">The headroom the power manager keeps (the last applied plan's, else the configured one).</param>
[GenerateSerializer, Immutable]
[Alias("omig.PowerStatus")]
public sealed record PowerStatus(
    [property: Id(0)] int HeadroomPercent,
    [property: Id(1)] string DomainLabel,
    [property: Id(2)] string Backend,
    [property: Id(3)] PowerPlanStatus? Plan,
    [property: Id(4)] ImmutableArray<PowerDomain> Domains,
    [property: Id(5)] ImmutableArray<string> HostsOff,
    [property: Id(6)] ImmutableArray<PowerEvent> Events);

/// <summary>
/// The power manager (one activation, key <see cref="Key"/>): plans which hosts to empty and power off, applies the plan
/// (drains, then the power backend), powers hosts on and off for operators, and powers the cheapest powered-off host on
/// when a domain's free capacity drops under the headroom or a drain or a create needs room no powered-on host has.
/// </summary>
[Alias("omig.IPowerGrain")]
public interface IPowerGrain : IGrainWithStringKey
{
    const string Key = "power";

    /// <summary>Plans with <paramref name="headroomPercent"/> (0–90) of cores and memory kept free in every failure domain
    /// (or in <paramref name="domain"/> alone, the others left as they are); replaces a plan not being applied.</summary>
    [Alias("Plan")]
    Task<PowerPlanStatus> PlanAsync(int headroomPercent, string? domain);

    /// <summary>Applies the stored plan: refused (nothing changed) when the fleet changed so that it would leave a domain
    /// under the headroom. Returns at once; the hosts are drained and powered off in the background.</summary>
    [Alias("Apply")]
    Task<PowerPlanStatus> ApplyAsync();

    [Alias("Get")]
    Task<PowerStatus> GetAsync();

    /// <summary>Powers one host on or off through the power backend and waits for it. Off is refused (nothing changed) for a
    /// host with VMs or reservations, or when its domain would be left under the headroom.</summary>
    [Alias("SetHostPower")]
    Task<HostRecord> SetHostPowerAsync(string hostId, HostPowerState power, string reason);

    /// <summary>Makes room for a VM of this size: when no powered-on host that takes VMs has it (in
    /// <paramref name="domain"/> when given), powers on the cheapest powered-off host that has (fewest cores, then least
    /// memory, then id) and waits for it. Returns that host, or null when a powered-on host has room already; fails with
    /// InsufficientCapacity when no host, on or off, could take it.</summary>
    [Alias("EnsureRoom")]
    Task<string?> EnsureRoomAsync(int vcpus, long memoryMiB, ImmutableArray<string> requiredCpuFeatures, string? domain);

    /// <summary>A drain found no destination for <paramref name="vmId"/> (on <paramref name="sourceHostId"/>): power a host on
    /// for it if one would do (its next passes find it).</summary>
    [Orleans.Concurrency.OneWay]
    [Alias("RequestRoom")]
    Task RequestRoomAsync(string vmId, string sourceHostId, string? domainLabel);

    /// <summary>One pass: the applying plan's steps, then the headroom watch (exposed for tests).</summary>
    [Alias("Drive")]
    Task<PowerStatus> DriveAsync();
}
