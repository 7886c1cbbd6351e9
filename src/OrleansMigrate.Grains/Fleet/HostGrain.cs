using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;
using FleetPlacement = OrleansMigrate.Fleet.Placement;

namespace OrleansMigrate.Grains.Fleet;

[ControlPlanePlacement]
public sealed partial class HostGrain(
    [PersistentState("host", StorageNames.Fleet)] IPersistentState<HostGrainState> state,
    TimeProvider time,
    ILogger<HostGrain> logger) : Grain, IHostGrain
{
    /// <summary>How often a publish to the host directory that failed is tried again.</summary>
    private static readonly TimeSpan PublishRetry = TimeSpan.FromSeconds(5);

    /// <summary>How long a change waits for the directory before handing its publish to the retry: the directory is
    /// advisory, so a dead directory silo must not hold every host change for the full response timeout.</summary>
    private static readonly TimeSpan PublishWait = TimeSpan.FromSeconds(2);

    /// <summary>How often this host looks for migration reservations that no migration owns, and how old one must be
    /// (by this activation's clock) before it is asked about.</summary>
    private static readonly TimeSpan OrphanCheck = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan OrphanAge = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, DateTimeOffset> _reservationSeen = new(StringComparer.Ordinal);
    private IGrainTimer? _orphanTimer;

    private IGrainTimer? _publishRetry;
    private (HostRecord? Record, HostVersion Version) _unpublished;

    private string HostId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        WatchReservations();
        return Task.CompletedTask;
    }

    public Task<HostRecord?> GetAsync() => Task.FromResult(state.State.Record);

    public Task<(HostRecord? Record, HostVersion Version)> GetVersionedAsync() =>
        Task.FromResult((state.State.Record, new HostVersion(state.State.Record?.RegisteredAt ?? default, state.State.Change)));

    public async Task<HostRecord> RegisterAsync(HostSpec spec)
    {
        FleetValidation.ValidateHost(spec);
        if (spec.HostId != HostId)
        {
            throw OmigException.Invalid("host_id", $"'{spec.HostId}' does not match the grain key '{HostId}'");
        }

        if (state.State.Record is { } existing)
        {
            if (existing.Spec == spec || SameSpec(existing.Spec, spec))
            {
                return existing;
            }

            throw OmigException.Conflict("host_id", $"host '{HostId}' is already registered");
        }

        state.State.Record = new HostRecord(spec, HostHealth.Ok, SchedulingState.Schedulable,
            ImmutableDictionary<string, FleetPlacement>.Empty, ImmutableDictionary<string, FleetPlacement>.Empty, time.GetUtcNow());
        state.State.Change = 1;
        await state.WriteOrRevertAsync(() => (state.State.Record, state.State.Change) = (null, 0));
        var registered = state.State.Record;
        await PublishAsync(registered, new HostVersion(registered.RegisteredAt, state.State.Change));
        return registered;
    }

    public async Task UnregisterAsync()
    {
        var record = Require();
        if (record.Vms.Count > 0)
        {
            throw OmigException.Conflict("host_id", $"host '{HostId}' still runs {record.Vms.Count} VM(s): drain or delete them first");
        }

        if (record.Reservations.Count > 0)
        {
            throw OmigException.Conflict("host_id", $"host '{HostId}' holds {record.Reservations.Count} reservation(s) of migrations in flight");
        }

        var gone = new HostVersion(record.RegisteredAt, state.State.Change + 1);
        await state.ClearStateAsync();
        (state.State.Record, state.State.Change) = (null, 0);
        await PublishAsync(null, gone);
    }

    public Task<HostRecord> SetSchedulingAsync(SchedulingState scheduling)
    {
        if (!Enum.IsDefined(scheduling))
        {
            throw OmigException.Invalid("scheduling", $"'{scheduling}' is not a scheduling state");
        }

        return UpdateAsync(r => r with { Scheduling = scheduling });
    }

    public Task<HostRecord> SetHealthAsync(HostHealth health)
    {
        if (!Enum.IsDefined(health))
        {
            throw OmigException.Invalid("health", $"'{health}' is not a health state");
        }

        return UpdateAsync(r => r with { Health = health });
    }

    public Task<HostRecord> SetPowerAsync(HostPowerState power)
    {
        if (!Enum.IsDefined(power))
        {
            throw OmigException.Invalid("power", $"'{power}' is not a power state");
        }

        var record = Require();
        if (record.Power == power)
        {
            return Task.FromResult(record);
        }

        // Checked in this grain's turn, like every placement: nothing can land between the check and the change.
        if (power == HostPowerState.Off && record.Vms.Count > 0)
        {
            throw OmigException.Conflict("host", $"host '{HostId}' runs {record.Vms.Count} VM(s): drain it before powering it off");
        }

        if (power == HostPowerState.Off && record.Reservations.Count > 0)
        {
            throw OmigException.Conflict("host", $"host '{HostId}' holds {record.Reservations.Count} reservation(s) of migrations in flight");
        }

        return UpdateAsync(r => r with { Power = power, PowerChangedAt = time.GetUtcNow() });
    }

    public Task<HostRecord> SetFirmwareAsync(string version)
    {
        if (!VersionNumber.IsValid(version))
        {
            throw OmigException.Invalid("firmware", $"'{version}' is not a version (digits and dots)");
        }

        return UpdateAsync(r => r with { Spec = r.Spec with { FirmwareVersion = version } });
    }

    public Task<HostRecord> SetDevicesAsync(ImmutableArray<DeviceCount> devices)
    {
        FleetValidation.ValidateDevices("devices", devices, FleetValidation.MaxDeviceCount);
        var record = Require();

        // What placed VMs and reservations hold must stay offered: the ledger never shows a device held twice over.
        var offered = DeviceCounts.ByKey(devices);
        foreach (var key in record.Vms.Values.Concat(record.Reservations.Values).SelectMany(p => p.Devices).Select(d => d.Key).Distinct(StringComparer.Ordinal))
        {
            var used = record.UsedDevices(key);
            if (offered.GetValueOrDefault(key) < used)
            {
                throw OmigException.Conflict("devices", $"host {HostId} has {used} {key} held by VMs and reservations; it cannot offer {offered.GetValueOrDefault(key)}");
            }
        }

        return UpdateAsync(r => r with { Spec = r.Spec with { Devices = devices } });
    }

    public Task<HostRecord> PlaceVmAsync(VmSpec vm)
    {
        FleetValidation.ValidateVm(vm);
        var record = Require();
        var wanted = FleetPlacement.Of(vm);
        if (record.Vms.TryGetValue(vm.VmId, out var placed))
        {
            return placed == wanted
                ? Task.FromResult(record)
                : throw OmigException.Conflict("vm_id", $"VM '{vm.VmId}' is already placed on host '{HostId}' with another size");
        }

        CheckAdmission(record, vm);
        return UpdateAsync(r => r with { Vms = r.Vms.SetItem(vm.VmId, wanted) });
    }

    public Task<HostRecord> RemoveVmAsync(string vmId)
    {
        var record = Require();
        return record.Vms.ContainsKey(vmId) ? UpdateAsync(r => r with { Vms = r.Vms.Remove(vmId) }) : Task.FromResult(record);
    }

    public Task<HostRecord> ReserveAsync(string reservationId, VmSpec vm)
    {
        FleetValidation.RequireId("reservation_id", reservationId);
        FleetValidation.ValidateVm(vm);
        var record = Require();
        var wanted = FleetPlacement.Of(vm);
        if (record.Reservations.TryGetValue(reservationId, out var held))
        {
            return held == wanted
                ? Task.FromResult(record)
                : throw OmigException.Conflict("reservation_id", $"reservation '{reservationId}' exists with another size");
        }

        CheckAdmission(record, vm);
        return UpdateAsync(r => r with { Reservations = r.Reservations.SetItem(reservationId, wanted) });
    }

    public Task<HostRecord> CommitReservationAsync(string reservationId, VmSpec vm)
    {
        var record = Require();
        if (record.Vms.ContainsKey(vm.VmId) && !record.Reservations.ContainsKey(reservationId))
        {
            return Task.FromResult(record);
        }

        if (!record.Reservations.TryGetValue(reservationId, out var held))
        {
            throw OmigException.NotFound("reservation_id", $"host '{HostId}' holds no reservation '{reservationId}'");
        }

        return UpdateAsync(r => r with { Vms = r.Vms.SetItem(vm.VmId, held), Reservations = r.Reservations.Remove(reservationId) });
    }

    public Task<HostRecord> ReleaseAsync(string reservationId)
    {
        var record = Require();
        return record.Reservations.ContainsKey(reservationId)
            ? UpdateAsync(r => r with { Reservations = r.Reservations.Remove(reservationId) })
            : Task.FromResult(record);
    }

    /// <summary>Power, schedulability, health, compatibility and capacity (cores, memory, devices) after reservations, in that order.</summary>
    private static void CheckAdmission(HostRecord host, VmSpec vm)
    {
        if (host.Power != HostPowerState.On)
        {
            throw new OmigException(OmigErrorCode.Conflict, "host", $"host '{host.HostId}' is powered off: power it on first (omig host power {host.HostId} on)");
        }

        if (host.Scheduling != SchedulingState.Schedulable)
        {
            throw new OmigException(OmigErrorCode.Conflict, "host", $"host '{host.HostId}' is {host.Scheduling.ToString().ToLowerInvariant()}: no new VMs are placed on it");
        }

        if (host.Health == HostHealth.Failed)
        {
            throw new OmigException(OmigErrorCode.Conflict, "host", $"host '{host.HostId}' has failed");
        }

        if (FleetValidation.IncompatibilityReason(host.Spec, vm) is { } reason)
        {
            throw new OmigException(OmigErrorCode.Incompatible, "cpu_features", reason);
        }

        if (vm.Vcpus > host.FreeVcpus)
        {
            throw new OmigException(OmigErrorCode.InsufficientCapacity, "vcpus",
                $"host '{host.HostId}' has {host.FreeVcpus} of {host.Spec.Cores} cores free after reservations; the VM needs {vm.Vcpus}");
        }

        if (vm.MemoryMiB > host.FreeMemoryMiB)
        {
            throw new OmigException(OmigErrorCode.InsufficientCapacity, "memory_mib",
                $"host '{host.HostId}' has {host.FreeMemoryMiB} of {host.Spec.MemoryMiB} MiB free after reservations; the VM needs {vm.MemoryMiB}");
        }

        // Checked here, one call at a time, like cores and memory: two creates or migrations can never hold one device.
        if (!vm.Devices.IsEmpty && host.MissingDevice(vm.Devices) is { } missing)
        {
            throw new OmigException(OmigErrorCode.InsufficientCapacity, "devices", missing);
        }
    }

    private HostRecord Require() =>
        state.State.Record ?? throw OmigException.NotFound("host", $"host '{HostId}' is not registered");

    private async Task<HostRecord> UpdateAsync(Func<HostRecord, HostRecord> change)
    {
        var before = Require();
        var changes = state.State.Change;
        var after = change(before);
        (state.State.Record, state.State.Change) = (after, changes + 1);

        // A failed write must leave the in-memory ledger as it was, or the next check would see capacity that is not
        // stored; after a version conflict the ledger is read back from storage (StateWrites).
        await state.WriteOrRevertAsync(() => (state.State.Record, state.State.Change) = (before, changes));
        WatchReservations();
        await PublishAsync(after, new HostVersion(after.RegisteredAt, changes + 1));
        return after;
    }

    /// <summary>
    /// A scheduler shard reserves a VM's room here at submit, before it stores the migration: if its silo dies in
    /// between, the reservation belongs to nothing. While this host holds migration reservations it asks, every few
    /// seconds, about each one it has seen for a while: no migration grain with that id and no scheduler shard holding it
    /// (asked again after the shard, since a migration may start in between) means it is given back. Any failure to
    /// answer keeps it (asked again at the next tick).
    /// </summary>
    private void WatchReservations()
    {
        if (_orphanTimer is null && state.State.Record?.Reservations.Keys.Any(IsMigrationReservation) == true)
        {
            _orphanTimer = this.RegisterGrainTimer(static g => g.ReleaseOrphansAsync(), this, OrphanCheck, OrphanCheck);
        }
    }

    private static bool IsMigrationReservation(string id) => id.StartsWith("mig-", StringComparison.Ordinal);

    private async Task ReleaseOrphansAsync()
    {
        var now = time.GetUtcNow();
        var held = state.State.Record?.Reservations.Keys.Where(IsMigrationReservation).ToHashSet(StringComparer.Ordinal) ?? [];
        foreach (var gone in _reservationSeen.Keys.Where(k => !held.Contains(k)).ToList())
        {
            _reservationSeen.Remove(gone);
        }

        if (held.Count == 0)
        {
            _orphanTimer?.Dispose();
            _orphanTimer = null;
            return;
        }

        foreach (var id in held)
        {
            if (!_reservationSeen.TryGetValue(id, out var since))
            {
                _reservationSeen[id] = now;
                continue;
            }

            if (now - since < OrphanAge)
            {
                continue;
            }

            try
            {
                var migration = GrainFactory.GetGrain<OrleansMigrate.Migration.IMigrationGrain>(id);
                if (await migration.GetAsync() is not null
                    || await OrleansMigrate.Migration.SchedulerShards.FindOpenAsync(GrainFactory, id) is not null
                    || await migration.GetAsync() is not null
                    || state.State.Record?.Reservations.ContainsKey(id) != true)
                {
                    continue;
                }

                await UpdateAsync(r => r with { Reservations = r.Reservations.Remove(id) });
                _reservationSeen.Remove(id);
                LogOrphanReleased(logger, HostId, id, (now - since).TotalSeconds);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Not known either way: kept, asked again at the next tick.
            }
        }
    }

    /// <summary>Tells the host directory (what fleet operations rank destinations from) of the stored change before the
    /// caller hears of it, so a drain that starts after this host came back into service sees it so. A directory that
    /// cannot be reached (or not within <see cref="PublishWait"/>) does not fail the change: it is retried every few
    /// seconds until it lands (a newer change replaces it; a late first attempt is ignored by version), and until then
    /// choices only see this host as it was — the scheduler checks against this grain.</summary>
    private async Task PublishAsync(HostRecord? record, HostVersion version)
    {
        try
        {
            await GrainFactory.GetGrain<IHostDirectoryGrain>(IHostDirectoryGrain.Key).PublishAsync(HostId, record, version).WaitAsync(PublishWait);
            _publishRetry?.Dispose();
            _publishRetry = null;
        }
        catch (Exception ex) when (ex is not OmigException)
        {
            LogPublishFailed(logger, HostId, ex.Message);
            _unpublished = (record, version);
            // Kept alive until it lands; if the grain is lost anyway, the directory's minute refill heals it.
            _publishRetry ??= this.RegisterGrainTimer(() => PublishAsync(_unpublished.Record, _unpublished.Version),
                new GrainTimerCreationOptions(PublishRetry, PublishRetry) { KeepAlive = true });
        }
    }

    private static bool SameSpec(HostSpec a, HostSpec b) =>
        a with { CpuFeatures = [], Labels = ImmutableDictionary<string, string>.Empty, Devices = [] } == b with { CpuFeatures = [], Labels = ImmutableDictionary<string, string>.Empty, Devices = [] }
        && DeviceCounts.SameSet(a.Devices, b.Devices) && a.CpuFeatures.SequenceEqual(b.CpuFeatures) && a.Labels.Count == b.Labels.Count && !a.Labels.Except(b.Labels).Any();

    [LoggerMessage(EventId = 1304, Level = LogLevel.Warning, Message = "Host {HostId} gave back reservation {ReservationId}, held for {Seconds:0} s by no migration and no scheduler shard (its shard's silo died between the reservation and storing the migration)")]
    private static partial void LogOrphanReleased(ILogger logger, string hostId, string reservationId, double seconds);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Warning, Message = "Host {HostId} could not tell the host directory of its change (retried every 5 s): {Reason}")]
    private static partial void LogPublishFailed(ILogger logger, string hostId, string reason);
}
