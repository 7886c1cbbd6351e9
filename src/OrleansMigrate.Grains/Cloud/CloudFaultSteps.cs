namespace OrleansMigrate.Grains.Cloud;

/// <summary>Fault step names of the cloud backends' provisioning actions, which are outside every
/// migration's path and so not among <see cref="Faults.FaultSteps"/>.</summary>
public static class CloudFaultSteps
{
    public const string DiskCreate = "disk.create";
    public const string DiskDelete = "disk.delete";
}
