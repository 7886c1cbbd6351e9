namespace OrleansMigrate.Grains.Agents;

/// <summary>How this silo's hypervisor runtime backs guests.</summary>
public sealed class HostRuntimeOptions
{
    /// <summary>
    /// Real bytes behind each simulated guest, in MiB (1–16,384; default 64): a VM of any registered size
    /// is simulated with this much byte-real memory, so a fleet of large VMs fits on one machine. The
    /// VM label <c>sim.memory-mib</c> overrides it per VM.
    /// </summary>
    public int SimulatedGuestMiB { get; set; } = 64;

    /// <summary>Address the migration stream listens on; the silo's advertised address in a cluster.</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>Check every received guest against the source's state at pause (after resume, off the critical path).
    /// QEMU: only our dirtying test guest can be checked (a short pause after the resume); other guests are not.</summary>
    public bool VerifyConsistency { get; set; } = true;

    /// <summary>Hypervisor backend (configuration <c>Omig:Driver</c>: <c>simulated</c>, <c>qemu</c> or <c>analytic</c>).</summary>
    public HypervisorKind Driver { get; set; } = HypervisorKind.Simulated;

    /// <summary>Modelled time per wall time of the <c>analytic</c> driver's transfers (1–1,000,000; default 1000:
    /// a modelled second takes a wall millisecond).</summary>
    public double TimeAcceleration { get; set; } = Hypervisor.Simulated.AnalyticHypervisorDriver.DefaultTimeAcceleration;

    /// <summary>QEMU settings, used when <see cref="Driver"/> is <c>qemu</c>.</summary>
    public Hypervisor.Qemu.QemuDriverOptions Qemu { get; set; } = new();

    /// <summary>Where a VM's session table comes from on this host (<c>Cloud:Sessions</c>): <c>simulated</c> (the default) or
    /// <c>conntrack</c> — the host's real conntrack entries of the VM's address, copied to the destination host in rounds
    /// during a migration.</summary>
    public Hypervisor.Sessions.SessionsBackendOptions Sessions { get; set; } = new();

    /// <summary>QEMU hosts: every NIC of a VM is a routed tap on this host (<c>Cloud:Network:VmNics=tap</c>); false: the
    /// guest gets no NIC.</summary>
    public bool TapNics { get; set; }

    /// <summary>With <see cref="TapNics"/>, a parallel switchover on QEMU is the control plane's own: the source switches its
    /// relays on with the guest still running, waits this long (0–1,000 ms; default 5) for the packets already in the
    /// guest's tap to reach the guest, then pauses it (<c>Cloud:Network:RelayLeadMs</c>).</summary>
    public int RelayLeadMs { get; set; } = 5;
}

/// <summary>The hypervisor backend of a host silo. Written in lower case (<c>simulated</c>, <c>qemu</c>, <c>analytic</c>).</summary>
public enum HypervisorKind
{
    /// <summary>Byte-real simulated guests over loopback TCP (the default).</summary>
    Simulated = 0,

    /// <summary>Real QEMU guests over QMP.</summary>
    Qemu = 1,

    /// <summary>Modelled memory and accelerated time, for fleets of thousands of hosts in one process; VMs keep their registered size.</summary>
    Analytic = 2,
}
