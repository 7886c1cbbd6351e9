namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// The source side of one live migration. Lives in the source host agent; talks to its
/// <see cref="IIncomingMigration"/> only through the TCP migration stream.
/// </summary>
/// <remarks>
/// Sequence: pre-copy rounds → pre-last-copy stage → VM paused (<see cref="PreSwitchover"/> completes) →
/// <see cref="FinalCopyAsync"/> (stop-and-copy: last dirty pages, session-table delta, device state) →
/// the orchestrator resumes the destination (commit point) → <see cref="CompleteAsync"/>.
/// Any failure before the final copy has been fully sent resumes the VM on the source by itself.
/// Once the final copy is sent the source stays paused until the orchestrator decides:
/// <see cref="CompleteAsync"/> (roll forward) or <see cref="CancelAsync"/> (roll back), so a lost
/// acknowledgement can never leave the VM running on two hosts.
/// </remarks>
public interface IOutgoingMigration : IAsyncDisposable
{
    string VmId { get; }

    /// <summary>The destination this stream is connected to.</summary>
    MigrationEndpoint Destination { get; }

    OutgoingMigrationState State { get; }

    /// <summary>
    /// Completes when pre-copy and the pre-last-copy stage are done and the source VM is paused,
    /// ready for switchover. Faults with <see cref="MigrationFailedException"/> if the migration failed or
    /// was cancelled before that point (the VM then keeps running on the source).
    /// </summary>
    Task<PreSwitchoverInfo> PreSwitchover { get; }

    /// <summary>A consistent snapshot of progress, cheap enough to poll.</summary>
    MigrationProgress GetProgress();

    /// <summary>Per-round records so far (pre-copy and pre-last-copy rounds; not the final copy).</summary>
    IReadOnlyList<RoundRecord> GetRounds();

    /// <summary>What the pre-last-copy stage decided and why, in order.</summary>
    IReadOnlyList<PreLastCopyDecision> GetPreLastCopyDecisions();

    /// <summary>The downtime target pre-copy and the pre-last-copy stage converge to, in ms.</summary>
    double DowntimeTargetMs { get; }

    /// <summary>Raises (or lowers) the downtime target while pre-copy runs, taking effect at the next round
    /// boundary: the orchestrator's escalation when a migration stalls (0.1–60,000 ms).</summary>
    void SetDowntimeTarget(double downtimeTargetMs);

    /// <summary>
    /// Asks pre-copy to stop iterating at the next round boundary and pause (an orchestrator deadline).
    /// </summary>
    /// <param name="skipPreLastCopy">True to also skip the pre-last-copy stage.</param>
    void RequestSwitchover(bool skipPreLastCopy = false);

    /// <summary>
    /// When set before the pause, a hypervisor that holds the pause itself (QEMU's <c>pause-before-switchover</c>) goes on
    /// to the final copy from its own event loop the moment it pauses, with no round trip;
    /// <see cref="FinalCopyAsync"/> then joins that run. An engine whose final copy is the <see cref="FinalCopyAsync"/>
    /// call itself (the simulated ones) has nothing to continue: for it the host runtime calls <see cref="FinalCopyAsync"/>
    /// at <see cref="PreSwitchover"/>, and the flag is only recorded.
    /// </summary>
    bool ContinueAtPause { get; set; }

    /// <summary>
    /// Asks the engine to run <paramref name="before"/> once, synchronously, with the VM still running, and to pause the VM
    /// for the switchover <paramref name="lead"/> later — an engine that decides the switchover itself. QEMU holds its own
    /// convergence (a downtime limit of 1 ms), judges from its <c>query-migrate</c> samples when the rest fits the downtime
    /// target, and pauses the guest with <c>stop</c>; QEMU then completes the migration at once, the guest dirtying
    /// nothing more. When the hypervisor pauses the VM first (it converged within the hold), <paramref name="before"/> runs
    /// the instant it reports the pause (QEMU's <c>STOP</c>, before <c>pre-switchover</c>) — then inside the downtime, so
    /// keep it short. <paramref name="undo"/> runs before the engine resumes a VM it paused itself, and when the migration
    /// fails before its final copy after <paramref name="before"/> ran. False for an engine without such control (the
    /// caller acts at <see cref="PreSwitchover"/> then).
    /// </summary>
    bool TryRunBeforePause(Action before, Action undo, TimeSpan lead) => false;

    /// <summary>The switchover as this side saw it, on the wall clock: the hypervisor's own steps (QEMU: <c>pre-switchover
    /// event</c>, <c>continue sent</c>, <c>completed</c>), those that happened; empty for an engine without such steps.</summary>
    IReadOnlyList<(string Step, DateTimeOffset AtUtc)> SwitchoverTimes() => [];

    /// <summary>The migration as the hypervisor measured it (QEMU's own downtime, total time, passes…); null for an engine
    /// that is ours (its figures are <see cref="GetProgress"/> and <see cref="GetStatistics"/>) or before the hypervisor has
    /// reported anything.</summary>
    HypervisorStatistics? HypervisorStatistics() => null;

    /// <summary>
    /// Runs the final copy once <see cref="PreSwitchover"/> has completed: the last dirty pages
    /// (LZ4-compressed unless <see cref="CompressionMode.None"/>), the session-table delta and the device
    /// state, then waits for the destination's acknowledgement. The caller may run other work concurrently.
    /// </summary>
    Task<FinalCopyResult> FinalCopyAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Roll forward after the destination resumed: the source VM stays stopped for good
    /// (<see cref="VmState.PostMigrate"/>) and the stream is closed.
    /// </summary>
    Task CompleteAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Roll back at any point before <see cref="CompleteAsync"/>: stops the stream, tells the destination
    /// to tear down, and resumes the VM on the source unchanged. Idempotent.
    /// </summary>
    Task CancelAsync(string reason, CancellationToken cancellationToken = default);

    /// <summary>Statistics so far (bytes, pages, compression), final once the migration ended.</summary>
    OutgoingStatistics GetStatistics();
}
