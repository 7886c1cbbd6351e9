using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// The one home of "may this VM move, and where to?", used by the scheduler (submit), the drain (its passes) and the
/// preflight alike: pure rules over the registry's records, so they are table-tested without a cluster.
/// <list type="bullet">
/// <item><see cref="NotLiveMovable"/> / <see cref="NotMovableNow"/>: whether the VM may be live-migrated at all (its
/// policy, pass-through devices — the old PCI list and <see cref="DeviceRules.PassThrough"/> GPUs and FPGAs) and right
/// now (running).</item>
/// <item><see cref="Refusal"/>: whether a host may take it. A candidate must be another host, take VMs at all
/// (<see cref="TakesVms"/>: powered on, schedulable and healthy), have the VM's CPU features, have room (cores, memory and the VM's
/// devices) after reservations, run QEMUs with switchover-ack on both sides for a mediated vGPU (<see cref="DeviceRules"/>), run a
/// hypervisor and firmware no older than the source's (unless the policy allows it), and hold no VM of the same
/// anti-affinity group (label <see cref="AntiAffinityLabel"/>).</item>
/// <item><see cref="CompareRoom"/>: which of two allowed hosts is better (the most free memory, then the most free
/// cores); <see cref="Choose"/>, the preflight and the drain's ranking all order by it.</item>
/// </list>
/// </summary>
public static class DestinationSelector
{
    public const string AntiAffinityLabel = "anti-affinity";

    /// <summary>Why the VM may never be live-migrated under <paramref name="policy"/> (the request field to blame and the
    /// reason), or null when it may.</summary>
    public static MoveRefusal? NotLiveMovable(VmSpec vm, MigrationPolicy policy)
    {
        if (!policy.LiveMigrate)
        {
            return new("policy", $"policy '{policy.Name}' never live-migrates it: stop it and cold-move it, or name another policy");
        }

        if (!vm.PassthroughDevices.IsEmpty)
        {
            return new("vm", $"it has pass-through devices ({string.Join(", ", vm.PassthroughDevices.Select(d => $"{d.Address} {d.Kind}"))}): "
                + "their state lives in hardware, so it is never live-migrated; stop it and cold-move it");
        }

        if (DeviceRules.PassThrough(vm) is { } device)
        {
            return new("devices", $"pass-through {device.Key} needs a cold move");
        }

        return null;
    }

    /// <summary><see cref="NotLiveMovable"/>, or why it cannot move right now by the registry (it is not running).</summary>
    public static MoveRefusal? NotMovableNow(VmRecord vm, MigrationPolicy policy) =>
        NotLiveMovable(vm.Spec, policy)
        ?? (vm.Power == PowerState.Running ? null : new MoveRefusal("vm", $"it is {Naming.EnumNames.Of(vm.Power)}, not running: start or delete it"));

    /// <summary>Why the VM cannot be moved cold under <paramref name="policy"/> right now (the field to blame and the
    /// reason), or null when it can: the policy must allow cold moves (<see cref="MigrationPolicy.ColdMove"/>) and the VM
    /// must be running or stopped. Says nothing of why it cannot move live: any VM <see cref="NotLiveMovable"/> refuses,
    /// whatever the reason, may be moved cold.</summary>
    public static MoveRefusal? NotColdMovable(VmRecord vm, MigrationPolicy policy) =>
        policy.ColdMove != ColdMove.Allow
            ? new MoveRefusal("policy", $"policy '{policy.Name}' never moves it cold (ColdMove=never)")
            : vm.Power is PowerState.Running or PowerState.Stopped
                ? null
                : new MoveRefusal("vm", $"it is {Naming.EnumNames.Of(vm.Power)}: a cold move takes a running or stopped VM");

    /// <summary>Whether a fleet operation moves the VM cold: it cannot move live (<see cref="NotLiveMovable"/>, for any
    /// reason) and its policy allows cold moves.</summary>
    public static bool MovesCold(VmSpec vm, MigrationPolicy policy) =>
        policy.ColdMove == ColdMove.Allow && NotLiveMovable(vm, policy) is not null;

    /// <summary>Whether the host takes VMs at all: powered on, schedulable and healthy. Every destination choice (scheduler,
    /// drains, preflight, planners) goes through it, so a powered-off host is never a destination.</summary>
    public static bool TakesVms(HostRecord host) =>
        host.Scheduling == SchedulingState.Schedulable && host.Health == HostHealth.Ok && host.Power == HostPowerState.On;

    /// <summary>The best-host rule: positive when <paramref name="x"/> has more room than <paramref name="y"/> (more free
    /// memory after reservations, then more free cores), 0 when equal.</summary>
    public static int CompareRoom(HostRecord x, HostRecord y)
    {
        var c = x.FreeMemoryMiB.CompareTo(y.FreeMemoryMiB);
        return c != 0 ? c : x.FreeVcpus.CompareTo(y.FreeVcpus);
    }

    /// <summary>Why <paramref name="candidate"/> cannot take <paramref name="vm"/> from <paramref name="source"/>, or null when it can.</summary>
    public static string? Refusal(VmRecord vm, HostRecord source, HostRecord candidate, IReadOnlyCollection<VmRecord> vmsOnCandidate, MigrationPolicy policy)
    {
        if (candidate.HostId == source.HostId)
        {
            return "it is the VM's current host";
        }

        if (!TakesVms(candidate))
        {
            return candidate.Power != HostPowerState.On ? "it is powered off"
                : candidate.Scheduling != SchedulingState.Schedulable
                ? $"it is {candidate.Scheduling.ToString().ToLowerInvariant()}"
                : $"its health is {candidate.Health.ToString().ToLowerInvariant()}";
        }

        if (FleetValidation.IncompatibilityReason(candidate.Spec, vm.Spec) is { } incompatible)
        {
            return incompatible;
        }

        if (!policy.AllowOlderVersion)
        {
            if (VersionNumber.Compare(candidate.Spec.HypervisorVersion, source.Spec.HypervisorVersion) < 0)
            {
                return $"its hypervisor {candidate.Spec.HypervisorVersion} is older than the source's {source.Spec.HypervisorVersion}";
            }

            if (VersionNumber.Compare(candidate.Spec.FirmwareVersion, source.Spec.FirmwareVersion) < 0)
            {
                return $"its firmware {candidate.Spec.FirmwareVersion} is older than the source's {source.Spec.FirmwareVersion}";
            }
        }

        if (candidate.FreeVcpus < vm.Spec.Vcpus)
        {
            return $"{candidate.FreeVcpus} cores free after reservations, the VM needs {vm.Spec.Vcpus}";
        }

        if (candidate.FreeMemoryMiB < vm.Spec.MemoryMiB)
        {
            return $"{candidate.FreeMemoryMiB} MiB free after reservations, the VM needs {vm.Spec.MemoryMiB}";
        }

        if (!vm.Spec.Devices.IsEmpty && candidate.MissingDevice(vm.Spec.Devices) is { } missing)
        {
            return missing;
        }

        if (DeviceRules.VgpuRefusal(vm.Spec, source.Spec, candidate.Spec) is { } vgpu)
        {
            return vgpu;
        }

        if (vm.Spec.Labels.TryGetValue(AntiAffinityLabel, out var group)
            && vmsOnCandidate.FirstOrDefault(o => o.VmId != vm.VmId && o.Spec.Labels.TryGetValue(AntiAffinityLabel, out var g) && g == group) is { } peer)
        {
            return $"VM '{peer.VmId}' of anti-affinity group '{group}' runs there";
        }

        return null;
    }

    /// <summary>The best allowed destination (<see cref="CompareRoom"/>; among equals the first given), or null with every refusal.</summary>
    public static (HostRecord? Host, IReadOnlyDictionary<string, string> Refusals) Choose(
        VmRecord vm, HostRecord source, IEnumerable<HostRecord> hosts, Func<string, IReadOnlyCollection<VmRecord>> vmsOn, MigrationPolicy policy)
    {
        var refusals = new SortedDictionary<string, string>(StringComparer.Ordinal);
        HostRecord? best = null;
        foreach (var host in hosts)
        {
            if (Refusal(vm, source, host, vmsOn(host.HostId), policy) is { } why)
            {
                refusals[host.HostId] = why;
                continue;
            }

            best = Better(best, host);
        }

        return (best, refusals);
    }

    /// <summary>The best of hosts already allowed (<see cref="CompareRoom"/>; among equals the first given), or null for none.</summary>
    public static HostRecord? Best(IEnumerable<HostRecord> allowed) => allowed.Aggregate((HostRecord?)null, Better);

    private static HostRecord? Better(HostRecord? best, HostRecord host) => best is null || CompareRoom(host, best) > 0 ? host : best;
}

/// <summary>Why a VM may not move: the request field to blame (<c>policy</c>, <c>vm</c> or <c>devices</c>) and the reason, in words that
/// read after "VM 'x' cannot be live-migrated: ".</summary>
public sealed record MoveRefusal(string Field, string Reason);
