using System.Collections.Concurrent;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The VMs of one in-process host and what the drivers do with them whatever a VM is made of (real simulated memory
/// or a model): lookup, listing, pause and resume outside a migration, the check before a migration out, and removal
/// (its migrations disposed first). The VM's own operations come in as delegates.
/// </summary>
/// <param name="hostName">The host, for messages.</param>
/// <param name="info">A VM's id, spec, state and whether a migration is active.</param>
/// <param name="pause">Pauses a running VM.</param>
/// <param name="resume">Resumes a paused VM.</param>
/// <param name="migrations">A VM's outgoing and incoming migration, where it has them.</param>
internal sealed class HostedVms<TVm>(string hostName, Func<TVm, VmInfo> info, Action<TVm> pause, Action<TVm> resume, Func<TVm, (IOutgoingMigration? Outgoing, IIncomingMigration? Incoming)> migrations)
    where TVm : class
{
    private readonly ConcurrentDictionary<string, TVm> _vms = new(StringComparer.Ordinal);

    /// <summary>The VM behind an id, or <see cref="VmNotFoundException"/>.</summary>
    public TVm Get(string vmId) => _vms.TryGetValue(vmId, out var vm) ? vm : throw new VmNotFoundException(vmId);

    public VmInfo Info(string vmId) => info(Get(vmId));

    /// <summary>Adds a new VM; an id already taken throws.</summary>
    public void Add(TVm vm)
    {
        var vmId = info(vm).Spec.VmId;
        if (!_vms.TryAdd(vmId, vm))
            throw new InvalidOperationException($"VM '{vmId}' already exists on host {hostName}.");
    }

    public IReadOnlyList<VmInfo> List() => [.. _vms.Values.Select(info)];

    /// <summary>Pauses a VM that is not migrating (a migration pauses its VM itself).</summary>
    public void Pause(string vmId)
    {
        var vm = Get(vmId);
        if (info(vm).HasActiveMigration)
            throw new InvalidOperationException($"VM '{vmId}' is migrating; pause it through the migration.");
        pause(vm);
    }

    public void Resume(string vmId) => resume(Get(vmId));

    /// <summary>The VM to migrate out: it must be running with no migration in progress.</summary>
    public TVm ForOutgoing(string vmId)
    {
        var vm = Get(vmId);
        var state = info(vm);
        if (state.State != VmState.Running || state.HasActiveMigration)
            throw new InvalidOperationException($"VM '{vmId}' must be running with no migration in progress to migrate out; it is {state.State}.");
        return vm;
    }

    /// <summary>Removes a VM, disposing its migrations (an outgoing one is cancelled, an incoming one aborted); null if there was none.</summary>
    public async Task<TVm?> RemoveAsync(string vmId)
    {
        if (!_vms.TryRemove(vmId, out var vm))
            return null;
        var (outgoing, incoming) = migrations(vm);
        if (outgoing is not null)
            await outgoing.DisposeAsync().ConfigureAwait(false);
        if (incoming is not null)
            await incoming.DisposeAsync().ConfigureAwait(false);
        return vm;
    }

    public IReadOnlyList<string> Ids() => [.. _vms.Keys];
}
