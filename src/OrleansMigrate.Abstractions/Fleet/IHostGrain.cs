namespace OrleansMigrate.Fleet;

/// <summary>One hypervisor host's record and capacity ledger (key: host id). Capacity checks and
/// reservations happen here, one call at a time, so two placements can never over-commit a host.</summary>
[Alias("omig.IHostGrain")]
public interface IHostGrain : IGrainWithStringKey
{
    /// <summary>The record, or null when no such host is registered.</summary>
    [Alias("Get")]
    Task<HostRecord?> GetAsync();

    /// <summary>The record as stored with the version it was published under (for the host directory's refill).</summary>
    [Alias("GetVersioned")]
    Task<(HostRecord? Record, HostVersion Version)> GetVersionedAsync();

    [Alias("Register")]
    Task<HostRecord> RegisterAsync(HostSpec spec);

    [Alias("Unregister")]
    Task UnregisterAsync();

    [Alias("SetScheduling")]
    Task<HostRecord> SetSchedulingAsync(SchedulingState state);

    [Alias("SetHealth")]
    Task<HostRecord> SetHealthAsync(HostHealth health);

    /// <summary>Records the host as powered on or off (the power backend already acted). Powering off is refused while the
    /// host holds a VM or a reservation; while it is off nothing is placed or reserved on it.</summary>
    [Alias("SetPower")]
    Task<HostRecord> SetPowerAsync(HostPowerState power);

    /// <summary>Records the firmware version the host runs after an upgrade was verified.</summary>
    [Alias("SetFirmware")]
    Task<HostRecord> SetFirmwareAsync(string version);

    /// <summary>Replaces the devices the host offers (<c>omig host update --device</c>). Refused when it would offer fewer
    /// of a kind and model than placed VMs and reservations hold.</summary>
    [Alias("SetDevices")]
    Task<HostRecord> SetDevicesAsync(System.Collections.Immutable.ImmutableArray<DeviceCount> devices);

    /// <summary>Checks schedulability, compatibility and capacity, then records the VM as placed here.
    /// Idempotent for the same VM and size.</summary>
    [Alias("PlaceVm")]
    Task<HostRecord> PlaceVmAsync(VmSpec vm);

    /// <summary>Forgets a placed VM and frees its capacity. Idempotent.</summary>
    [Alias("RemoveVm")]
    Task<HostRecord> RemoveVmAsync(string vmId);

    /// <summary>Holds capacity under <paramref name="reservationId"/> (e.g. an incoming migration).
    /// Idempotent for the same id and size.</summary>
    [Alias("Reserve")]
    Task<HostRecord> ReserveAsync(string reservationId, VmSpec vm);

    /// <summary>Turns the reservation into the placed VM (a migration's commit): no admission check, the
    /// capacity is already held. Idempotent: a replay after the VM is placed is a no-op.</summary>
    [Alias("CommitReservation")]
    Task<HostRecord> CommitReservationAsync(string reservationId, VmSpec vm);

    /// <summary>Frees a reservation. Idempotent.</summary>
    [Alias("Release")]
    Task<HostRecord> ReleaseAsync(string reservationId);
}
