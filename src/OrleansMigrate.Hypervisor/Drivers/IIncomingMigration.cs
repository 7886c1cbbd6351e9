namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// The destination side of one live migration. Lives in the destination host agent; it listens on
/// <see cref="Endpoint"/> and receives the stream from the source's <see cref="IOutgoingMigration"/>.
/// </summary>
public interface IIncomingMigration : IAsyncDisposable
{
    string VmId { get; }

    /// <summary>Where the source must connect (host and port actually bound).</summary>
    MigrationEndpoint Endpoint { get; }

    IncomingMigrationState State { get; }

    /// <summary>
    /// Completes when the whole stream (final pages, session delta, device state) has been received and
    /// applied, so the VM is ready to resume. Faults with <see cref="MigrationFailedException"/> on a
    /// corrupt frame, a dropped connection or an abort from the source; the destination VM is then torn down.
    /// </summary>
    Task<IncomingResult> Received { get; }

    /// <summary>
    /// The commit point: runs the VM on this host. Valid only after <see cref="Received"/> completed.
    /// After this call the migration only rolls forward.
    /// </summary>
    Task<ResumeResult> ResumeAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Completes after <see cref="ResumeAsync"/> with the driver's check of the received guest against the
    /// source's state at pause, or <see langword="null"/> when the driver cannot check (QEMU) or
    /// <see cref="IncomingMigrationOptions.VerifyConsistency"/> is off.
    /// </summary>
    Task<ConsistencyReport?> Consistency { get; }

    /// <summary>Tears the incoming VM down (roll back). No effect after <see cref="ResumeAsync"/>. Idempotent.</summary>
    Task AbortAsync(string reason, CancellationToken cancellationToken = default);

    /// <summary>Statistics so far (frames, bytes, decompression).</summary>
    IncomingStatistics GetStatistics();
}
