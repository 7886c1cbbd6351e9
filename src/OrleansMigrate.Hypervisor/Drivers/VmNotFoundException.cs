namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>No VM with this id is defined on the host.</summary>
public sealed class VmNotFoundException : Exception
{
    public VmNotFoundException()
    {
    }

    public VmNotFoundException(string vmId)
        : base($"No VM '{vmId}' is defined on this host.")
    {
        VmId = vmId;
    }

    public VmNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public string? VmId { get; }
}
