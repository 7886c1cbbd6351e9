using OrleansMigrate.Hypervisor.Sessions;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>What the source engine needs from the VM it migrates.</summary>
internal interface IPreCopyGuest
{
    string VmId { get; }

    GuestMemory Memory { get; }

    DirtyBitmap DirtyPages { get; }

    /// <summary>The VM's session table, or null when it has none.</summary>
    SessionTable? Sessions { get; }

    /// <summary>Expected size of the device-state blob, for downtime estimates.</summary>
    int DeviceStateBytes { get; }

    /// <summary>Starts dirty logging (bitmap cleared, whole session table marked dirty).</summary>
    void BeginOutgoing();

    /// <summary>Stops every guest thread (vCPUs, workload, session churn) and returns once none is running.</summary>
    void PauseForSwitchover();

    /// <summary>Serialises device state. Only while paused.</summary>
    byte[] CaptureDeviceState();

    /// <summary>Roll back: stop dirty logging and, if paused for switchover, run again.</summary>
    void EndOutgoingRolledBack();

    /// <summary>Roll forward: the VM now runs elsewhere; stay stopped for good.</summary>
    void EndOutgoingCommitted();
}
