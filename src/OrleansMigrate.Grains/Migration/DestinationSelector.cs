using OrleansMigrate.Fleet;

namespace OrleansMigrate.Migration;

/// <summary>
/// Where a VM may go: pure rules over the registry's records, so placement is table-tested without a
/// cluster. A candidate must be another host, schedulable and healthy, have the VM's CPU features, have
/// room after reservations, run a hypervisor and firmware no older than the source's (unless the policy
/// allows it), and hold no VM of the same anti-affinity group (label <see cref="AntiAffinityLabel"/>).
/// </summary>
public static class DestinationSelector
{
    public const string AntiAffinityLabel = "anti-affinity";

    /// <summary>Why <paramref name="candidate"/> cannot take <paramref name="vm"/> from <paramref name="source"/>, or null when it can.</summary>
    public static string? Refusal(VmRecord vm, HostRecord source, HostRecord candidate, IReadOnlyCollection<VmRecord> vmsOnCandidate, MigrationPolicy policy)
    {
        if (candidate.HostId == source.HostId)
        {
            return "it is the VM's current host";
        }

        if (candidate.Scheduling != SchedulingState.Schedulable)
        {
            return $"it is {candidate.Scheduling.ToString().ToLowerInvariant()}";
        }

        if (candidate.Health != HostHealth.Ok)
        {
            return $"its health is {candidate.Health.ToString().ToLowerInvariant()}";
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

        if (vm.Spec.Labels.TryGetValue(AntiAffinityLabel, out var group)
            && vmsOnCandidate.FirstOrDefault(o => o.VmId != vm.VmId && o.Spec.Labels.TryGetValue(AntiAffinityLabel, out var g) && g == group) is { } peer)
        {
            return $"VM '{peer.VmId}' of anti-affinity group '{group}' runs there";
        }

        return null;
    }

    /// <summary>The best allowed destination (most free memory, then most free cores, then id), or null with every refusal.</summary>
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

            if (best is null || (host.FreeMemoryMiB, host.FreeVcpus).CompareTo((best.FreeMemoryMiB, best.FreeVcpus)) > 0)
            {
                best = host;
            }
        }

        return (best, refusals);
    }
}
