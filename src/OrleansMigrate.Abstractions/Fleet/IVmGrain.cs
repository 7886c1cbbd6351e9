namespace OrleansMigrate.Fleet;

/// <summary>One VM's record (key: VM id). Created and deleted through <see cref="IFleetGrain"/>.</summary>
[Alias("omig.IVmGrain")]
public interface IVmGrain : IGrainWithStringKey
{
    /// <summary>The record, or null when no such VM exists.</summary>
    [Alias("Get")]
    Task<VmRecord?> GetAsync();

    [Alias("Create")]
    Task<VmRecord> CreateAsync(VmSpec spec, string hostId);

    /// <summary>Records the power state (and clears any <see cref="VmRecord.PowerDetail"/>).</summary>
    [Alias("SetPower")]
    Task<VmRecord> SetPowerAsync(PowerState power);

    /// <summary>Records that nobody can say whether the VM runs (its host's agent is unreachable), with why.</summary>
    [Alias("MarkUnknown")]
    Task<VmRecord> MarkUnknownAsync(string detail);

    /// <summary>Records <paramref name="power"/> when the VM is <see cref="PowerState.Unknown"/>; any other state is kept.</summary>
    [Alias("ResolveUnknown")]
    Task<VmRecord> ResolveUnknownAsync(PowerState power);

    /// <summary>Records that the VM now runs on <paramref name="hostId"/> (a migration's roll-forward). Idempotent.</summary>
    [Alias("Move")]
    Task<VmRecord> MoveAsync(string hostId);

    [Alias("Delete")]
    Task DeleteAsync();
}
