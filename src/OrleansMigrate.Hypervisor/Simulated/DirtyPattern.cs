namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>Which pages the workload writes.</summary>
public enum DirtyPattern
{
    /// <summary>Any page, uniformly at random.</summary>
    Uniform,

    /// <summary>Only the first <see cref="GuestWorkloadOptions.HotSetMiB"/> MiB, uniformly at random.</summary>
    HotSet,
}
