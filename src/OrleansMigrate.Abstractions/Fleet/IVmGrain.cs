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

    [Alias("SetPower")]
    Task<VmRecord> SetPowerAsync(PowerState power);

    /// <summary>Records that the VM now runs on <paramref name="hostId"/> (a migration's roll-forward). Idempotent.</summary>
    [Alias("Move")]
    Task<VmRecord> MoveAsync(string hostId);

    [Alias("Delete")]
    Task DeleteAsync();
}
