using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Grains.Planning;

/// <summary>
/// A planner's working copy of the fleet: hosts and VMs as array indices, free capacity as it changes along
/// the plan, anti-affinity groups per host, and the placement rules of <see cref="DestinationSelector.Refusal"/>
/// precomputed so that one check costs a few array reads:
/// <list type="bullet">
/// <item>schedulable and healthy → one flag per host;</item>
/// <item>CPU features (<see cref="FleetValidation.IncompatibilityReason"/>: every required flag present) → interned
/// feature sets, the answer cached per (VM set, host set) pair;</item>
/// <item>versions not older (unless the VM's policy allows) → every distinct version string ranked by
/// <see cref="VersionNumber.Compare"/>, equal versions sharing a rank, so comparing ranks is comparing versions;</item>
/// <item>free cores and memory after reservations → counters started from <see cref="HostRecord.FreeVcpus"/> and
/// <see cref="HostRecord.FreeMemoryMiB"/>, moved by the placement each VM holds;</item>
/// <item>anti-affinity → interned group names counted per host;</item>
/// <item>devices (<see cref="HostRecord.FreeDevices"/>) → interned <c>kind:model</c> keys, free counts per host moved
/// like cores; a mediated vGPU → both hosts' QEMU with switchover-ack (<see cref="DeviceRules.VgpuRefusal"/>).</item>
/// </list>
/// <see cref="Allows(int, int, long, long)"/> is tested against <see cref="DestinationSelector.Refusal"/> on random fleets.
/// </summary>
internal sealed class FleetState
{
    public readonly HostRecord[] Hosts;
    public readonly VmRecord[] Vms;
    public readonly Dictionary<string, int> HostIndex;

    /// <summary>Current host of each VM, -1 when its record names a host the snapshot lacks.</summary>
    public readonly int[] VmHost;
    public readonly int[] VmVcpus;
    public readonly long[] VmMemory;

    /// <summary>What the VM holds on its current host (its placement there; 0 when the host record does not list it).</summary>
    public readonly int[] PlacedVcpus;
    public readonly long[] PlacedMemory;

    /// <summary>Pass-through devices or the passthrough class: never moved.</summary>
    public readonly bool[] Pinned;
    public readonly bool[] AllowOlder;
    public readonly string[] PolicyName;
    public readonly int[] VmGroup;

    public readonly long[] FreeVcpus;
    public readonly long[] FreeMemory;
    public readonly bool[] HostOk;
    public readonly List<int>[] VmsOn;

    private readonly int[] vmFeatures;
    private readonly int[] hostFeatures;
    private readonly int[] hypervisorRank;
    private readonly int[] firmwareRank;
    private readonly Dictionary<int, int>?[] groupsOn;
    private readonly List<string[]> vmFeatureSets = [];
    private readonly List<HashSet<string>> hostFeatureSets = [];
    private readonly Dictionary<long, bool> compatible = [];

    /// <summary>Per host, free devices by interned key (null for a host that offers none and holds none).</summary>
    private readonly int[]?[] freeDevices;

    /// <summary>Per VM, the devices it asks for and the devices its current host's placement holds (null for none).</summary>
    private readonly (int Key, int Count)[]?[] vmDevices;
    private readonly (int Key, int Count)[]?[] placedDevices;
    private readonly bool[] needsSwitchoverAck;
    private readonly bool[] hostSwitchoverAck;
    private readonly Dictionary<string, int> deviceKeys = new(StringComparer.Ordinal);

    public FleetState(FleetSnapshot fleet, PolicyResolver policies)
    {
        Hosts = [.. fleet.Hosts];
        Vms = [.. fleet.Vms];
        var h = Hosts.Length;
        var n = Vms.Length;
        HostIndex = new Dictionary<string, int>(h, StringComparer.Ordinal);
        FreeVcpus = new long[h];
        FreeMemory = new long[h];
        HostOk = new bool[h];
        VmsOn = new List<int>[h];
        hostFeatures = new int[h];
        groupsOn = new Dictionary<int, int>?[h];
        freeDevices = new int[]?[h];
        hostSwitchoverAck = new bool[h];
        foreach (var key in Hosts.SelectMany(x => x.Spec.Devices).Select(d => d.Key)
                     .Concat(fleet.Vms.SelectMany(x => x.Spec.Devices).Select(d => d.Key)))
        {
            deviceKeys.TryAdd(key, deviceKeys.Count);
        }

        var hostSetIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < h; i++)
        {
            var host = Hosts[i];
            HostIndex[host.HostId] = i;
            FreeVcpus[i] = host.FreeVcpus;
            FreeMemory[i] = host.FreeMemoryMiB;
            HostOk[i] = DestinationSelector.TakesVms(host);
            hostSwitchoverAck[i] = DeviceRules.HasSwitchoverAck(host.Spec);
            if (!host.Spec.Devices.IsEmpty)
            {
                var free = new int[deviceKeys.Count];
                foreach (var (deviceKey, k) in deviceKeys)
                {
                    free[k] = host.FreeDevices(deviceKey);
                }

                freeDevices[i] = free;
            }
            VmsOn[i] = [];
            var key = string.Join(',', host.Spec.CpuFeatures.Order(StringComparer.Ordinal));
            if (!hostSetIds.TryGetValue(key, out var id))
            {
                id = hostFeatureSets.Count;
                hostSetIds[key] = id;
                hostFeatureSets.Add(new HashSet<string>(host.Spec.CpuFeatures, StringComparer.Ordinal));
            }

            hostFeatures[i] = id;
        }

        hypervisorRank = Rank(Hosts.Select(x => x.Spec.HypervisorVersion));
        firmwareRank = Rank(Hosts.Select(x => x.Spec.FirmwareVersion));

        VmHost = new int[n];
        VmVcpus = new int[n];
        VmMemory = new long[n];
        PlacedVcpus = new int[n];
        PlacedMemory = new long[n];
        Pinned = new bool[n];
        AllowOlder = new bool[n];
        PolicyName = new string[n];
        VmGroup = new int[n];
        vmFeatures = new int[n];
        vmDevices = new (int, int)[]?[n];
        placedDevices = new (int, int)[]?[n];
        needsSwitchoverAck = new bool[n];
        var vmSetIds = new Dictionary<string, int>(StringComparer.Ordinal);
        var groupIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var v = 0; v < n; v++)
        {
            var vm = Vms[v];
            VmVcpus[v] = vm.Spec.Vcpus;
            VmMemory[v] = vm.Spec.MemoryMiB;
            var policy = policies(vm);
            Pinned[v] = DestinationSelector.NotLiveMovable(vm.Spec, policy) is not null;
            AllowOlder[v] = policy.AllowOlderVersion;
            PolicyName[v] = policy.Name;
            var features = vm.Spec.RequiredCpuFeatures;
            var key = features.IsDefaultOrEmpty ? "" : features.Length == 1 ? features[0] : string.Join(',', features.Order(StringComparer.Ordinal));
            if (!vmSetIds.TryGetValue(key, out var fid))
            {
                fid = vmFeatureSets.Count;
                vmSetIds[key] = fid;
                vmFeatureSets.Add(features.IsDefault ? [] : [.. features]);
            }

            vmFeatures[v] = fid;
            vmDevices[v] = Interned(vm.Spec.Devices);
            needsSwitchoverAck[v] = DeviceRules.Vgpu(vm.Spec) is not null;
            VmGroup[v] = -1;
            if (vm.Spec.Labels.TryGetValue(DestinationSelector.AntiAffinityLabel, out var group))
            {
                if (!groupIds.TryGetValue(group, out var gid))
                {
                    gid = groupIds.Count;
                    groupIds[group] = gid;
                }

                VmGroup[v] = gid;
            }

            if (HostIndex.TryGetValue(vm.HostId, out var hi))
            {
                VmHost[v] = hi;
                VmsOn[hi].Add(v);
                if (Hosts[hi].Vms.TryGetValue(vm.VmId, out var placed))
                {
                    PlacedVcpus[v] = placed.Vcpus;
                    PlacedMemory[v] = placed.MemoryMiB;
                    placedDevices[v] = Interned(placed.Devices);
                }

                AddGroup(hi, VmGroup[v]);
            }
            else
            {
                VmHost[v] = -1;
                Pinned[v] = true;
            }
        }
    }

    /// <summary>
    /// True when <see cref="DestinationSelector.Refusal"/> would accept moving VM <paramref name="v"/> from its current
    /// host to <paramref name="d"/> in the current state, with the capacity test against
    /// <paramref name="freeVcpus"/>/<paramref name="freeMemory"/> (the real free capacity, or less when the planner keeps room).
    /// </summary>
    public bool Allows(int v, int d, long freeVcpus, long freeMemory)
    {
        var s = VmHost[v];
        return s >= 0 && d != s && HostOk[d]
            && freeVcpus >= VmVcpus[v] && freeMemory >= VmMemory[v]
            && (AllowOlder[v] || (hypervisorRank[d] >= hypervisorRank[s] && firmwareRank[d] >= firmwareRank[s]))
            && (VmGroup[v] < 0 || groupsOn[d] is not { } g || !g.ContainsKey(VmGroup[v]))
            && (!needsSwitchoverAck[v] || (hostSwitchoverAck[s] && hostSwitchoverAck[d]))
            && DevicesFit(v, d)
            && Compatible(vmFeatures[v], hostFeatures[d]);
    }

    /// <summary>Whether host <paramref name="d"/> has every device VM <paramref name="v"/> asks for free now.</summary>
    private bool DevicesFit(int v, int d)
    {
        if (vmDevices[v] is not { } wanted)
        {
            return true;
        }

        if (freeDevices[d] is not { } free)
        {
            return false;
        }

        foreach (var (key, count) in wanted)
        {
            if (free[key] < count)
            {
                return false;
            }
        }

        return true;
    }

    private (int Key, int Count)[]? Interned(System.Collections.Immutable.ImmutableArray<DeviceCount> devices) =>
        devices.IsDefaultOrEmpty ? null : [.. devices.Select(x => (deviceKeys[x.Key], x.Count))];

    private void AddDevices(int host, (int Key, int Count)[]? devices, int sign)
    {
        if (devices is null)
        {
            return;
        }

        var free = freeDevices[host] ??= new int[deviceKeys.Count];
        foreach (var (key, count) in devices)
        {
            free[key] += sign * count;
        }
    }

    /// <summary><see cref="Allows(int, int, long, long)"/> with the host's real free capacity.</summary>
    public bool Allows(int v, int d) => Allows(v, d, FreeVcpus[d], FreeMemory[d]);

    /// <summary>Moves VM <paramref name="v"/> to <paramref name="d"/>; returns what undoing it needs.</summary>
    public Undo Move(int v, int d)
    {
        var s = VmHost[v];
        var undo = new Undo(v, s, PlacedVcpus[v], PlacedMemory[v], placedDevices[v]);
        FreeVcpus[s] += PlacedVcpus[v];
        FreeMemory[s] += PlacedMemory[v];
        AddDevices(s, placedDevices[v], +1);
        VmsOn[s].Remove(v);
        RemoveGroup(s, VmGroup[v]);
        PlacedVcpus[v] = VmVcpus[v];
        PlacedMemory[v] = VmMemory[v];
        placedDevices[v] = vmDevices[v];
        FreeVcpus[d] -= PlacedVcpus[v];
        FreeMemory[d] -= PlacedMemory[v];
        AddDevices(d, placedDevices[v], -1);
        VmsOn[d].Add(v);
        AddGroup(d, VmGroup[v]);
        VmHost[v] = d;
        return undo;
    }

    /// <summary>Reverts a <see cref="Move"/> (the last one touching this VM).</summary>
    public void Revert(Undo undo)
    {
        var v = undo.Vm;
        var d = VmHost[v];
        FreeVcpus[d] += PlacedVcpus[v];
        FreeMemory[d] += PlacedMemory[v];
        AddDevices(d, placedDevices[v], +1);
        VmsOn[d].Remove(v);
        RemoveGroup(d, VmGroup[v]);
        PlacedVcpus[v] = undo.PlacedVcpus;
        PlacedMemory[v] = undo.PlacedMemory;
        placedDevices[v] = undo.PlacedDevices;
        FreeVcpus[undo.Host] -= undo.PlacedVcpus;
        FreeMemory[undo.Host] -= undo.PlacedMemory;
        AddDevices(undo.Host, undo.PlacedDevices, -1);
        VmsOn[undo.Host].Add(v);
        AddGroup(undo.Host, VmGroup[v]);
        VmHost[v] = undo.Host;
    }

    public PlannedMove ToMove(int v, int from, int to) => new(Vms[v].VmId, Hosts[from].HostId, Hosts[to].HostId, VmVcpus[v], VmMemory[v], PolicyName[v]);

    private bool Compatible(int vmSet, int hostSet)
    {
        var required = vmFeatureSets[vmSet];
        if (required.Length == 0)
        {
            return true;
        }

        var key = ((long)vmSet << 32) | (uint)hostSet;
        if (!compatible.TryGetValue(key, out var ok))
        {
            var features = hostFeatureSets[hostSet];
            ok = required.All(features.Contains);
            compatible[key] = ok;
        }

        return ok;
    }

    private void AddGroup(int host, int group)
    {
        if (group < 0)
        {
            return;
        }

        var g = groupsOn[host] ??= [];
        g[group] = g.GetValueOrDefault(group) + 1;
    }

    private void RemoveGroup(int host, int group)
    {
        if (group < 0 || groupsOn[host] is not { } g)
        {
            return;
        }

        if (g[group] == 1)
        {
            g.Remove(group);
        }
        else
        {
            g[group]--;
        }
    }

    /// <summary>Ranks versions so that rank order is <see cref="VersionNumber.Compare"/> order (equal versions, equal rank).</summary>
    private static int[] Rank(IEnumerable<string> versions)
    {
        var all = versions.ToArray();
        var distinct = all.Distinct(StringComparer.Ordinal).ToList();
        distinct.Sort(VersionNumber.Compare);
        var rank = new Dictionary<string, int>(StringComparer.Ordinal);
        var r = 0;
        for (var i = 0; i < distinct.Count; i++)
        {
            if (i > 0 && VersionNumber.Compare(distinct[i - 1], distinct[i]) != 0)
            {
                r++;
            }

            rank[distinct[i]] = r;
        }

        return [.. all.Select(v => rank[v])];
    }

    public readonly record struct Undo(int Vm, int Host, int PlacedVcpus, long PlacedMemory, (int Key, int Count)[]? PlacedDevices);
}
