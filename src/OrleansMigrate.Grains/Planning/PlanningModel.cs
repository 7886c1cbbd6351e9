using System.Collections.Immutable;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Grains.Planning;

/// <summary>
/// The fleet as a planner sees it: the registry's host and VM records at one moment. A VM belongs to the
/// host its record names (<see cref="VmRecord.HostId"/>); a host's free capacity is the record's, after
/// reservations. VMs naming an unknown host are never moved.
/// </summary>
public sealed record FleetSnapshot(IReadOnlyList<HostRecord> Hosts, IReadOnlyList<VmRecord> Vms);

/// <summary>The instance shape a defragmentation makes room for.</summary>
/// <param name="Vcpus">Cores per instance, at least 1.</param>
/// <param name="MemoryMiB">Memory per instance in MiB, at least 1.</param>
/// <param name="RequiredCpuFeatures">Flags every host that takes an instance must have (may be empty).</param>
[GenerateSerializer, Immutable]
[Alias("omig.InstanceShape")]
public sealed record InstanceShape(
    [property: Id(0)] int Vcpus,
    [property: Id(1)] long MemoryMiB,
    [property: Id(2)] ImmutableArray<string> RequiredCpuFeatures)
{
    public InstanceShape(int vcpus, long memoryMiB)
        : this(vcpus, memoryMiB, [])
    {
    }

    public override string ToString() =>
        $"vcpus={Vcpus},memory={MemoryMiB}MiB" + (RequiredCpuFeatures.IsDefaultOrEmpty ? "" : $",features={string.Join('+', RequiredCpuFeatures)}");
}

/// <summary>One live migration of a plan, to run after the ones before it.</summary>
/// <param name="Policy">The migration policy the move was checked with (its version rule): submit the migration with it
/// (<c>MigrationRequest.Policy</c>), so that admission checks the same rule.</param>
[GenerateSerializer, Immutable]
[Alias("omig.PlannedMove")]
public sealed record PlannedMove(
    [property: Id(0)] string VmId,
    [property: Id(1)] string FromHost,
    [property: Id(2)] string ToHost,
    [property: Id(3)] int Vcpus,
    [property: Id(4)] long MemoryMiB,
    [property: Id(5)] string Policy);

/// <summary>Which migration policy governs a VM (its version rule is the one placement checks).</summary>
public delegate MigrationPolicy PolicyResolver(VmRecord vm);

/// <summary>The rules every planner shares beyond <see cref="DestinationSelector"/>: which VMs never move, which hosts take a shape.</summary>
public static class PlanRules
{
    /// <summary>The instance class that never moves in a plan, like any VM with pass-through devices.</summary>
    public const string PassthroughClass = "passthrough";

    /// <summary>The policy named by the VM's instance class, else <c>standard</c> (as <see cref="MigrationPolicyOptions.Resolve"/> does).</summary>
    public static PolicyResolver ByInstanceClass(IReadOnlyDictionary<string, MigrationPolicy> policies) =>
        vm => policies.TryGetValue(vm.Spec.InstanceClass, out var p) ? p : policies["standard"];

    /// <summary>Resolves with the built-in policies.</summary>
    public static PolicyResolver BuiltIn { get; } = ByInstanceClass(MigrationPolicy.BuiltIn);

    /// <summary>True when a plan may never move <paramref name="vm"/>: exactly when it may never be live-migrated
    /// (<see cref="DestinationSelector.NotLiveMovable"/>: pass-through devices, or a policy that never live-migrates, like
    /// the <c>passthrough</c> class's).</summary>
    public static bool IsPinned(VmRecord vm, PolicyResolver policies) => DestinationSelector.NotLiveMovable(vm.Spec, policies(vm)) is not null;

    /// <summary>True when <paramref name="host"/> may receive new instances of <paramref name="shape"/> (capacity aside).</summary>
    public static bool CanHostShape(HostRecord host, InstanceShape shape) =>
        DestinationSelector.TakesVms(host)
        && (shape.RequiredCpuFeatures.IsDefaultOrEmpty || shape.RequiredCpuFeatures.All(f => host.Spec.CpuFeatures.Contains(f, StringComparer.Ordinal)));

    /// <summary>How many instances of <paramref name="shape"/> fit in the given free capacity.</summary>
    public static long Fits(long freeVcpus, long freeMemoryMiB, InstanceShape shape) =>
        freeVcpus < 0 || freeMemoryMiB < 0 ? 0 : Math.Min(freeVcpus / shape.Vcpus, freeMemoryMiB / shape.MemoryMiB);
}
