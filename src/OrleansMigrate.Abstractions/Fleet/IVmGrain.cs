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

    [Alias("Delete")]
    Task DeleteAsync();
}
