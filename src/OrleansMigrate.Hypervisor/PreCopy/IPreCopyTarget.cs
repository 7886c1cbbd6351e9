using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Sessions;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>What the destination engine needs from the VM it fills.</summary>
internal interface IPreCopyTarget
{
    string VmId { get; }

    GuestMemory Memory { get; }

    /// <summary>The VM's session table (filled from deltas), or null when it keeps none.</summary>
    SessionTable? Sessions { get; }

    /// <summary>Stores the received device-state blob; throws <see cref="Framing.FrameFormatException"/> when it does not decode.</summary>
    void RestoreDeviceState(ReadOnlySpan<byte> blob);

    /// <summary>The commit point: the VM runs here now (guest threads start with <see cref="StartGuestActivity"/>).</summary>
    void ResumeIncoming();

    /// <summary>Checks the received guest against the source's state at pause.</summary>
    ConsistencyReport VerifyReceived();

    /// <summary>Starts the guest's own workload and churn after resume.</summary>
    void StartGuestActivity();

    /// <summary>The incoming migration failed: release the memory and mark the VM failed.</summary>
    void TearDownIncoming(string reason);
}
