namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// Runs a whole live migration between two drivers with no cloud actions in the switchover: what the
/// migration grain does, minus disk hand-over and network relay. Used by the benchmark, tests and the CLI.
/// </summary>
public static class LiveMigration
{
    /// <summary>
    /// Creates the VM on <paramref name="destination"/> with the source's spec, prepares the incoming side,
    /// runs pre-copy and the pre-last-copy stage, the final copy, resumes the destination (commit point) and
    /// completes the source. On any failure before the resume the source keeps running, the destination VM is
    /// destroyed and the exception propagates.
    /// </summary>
    /// <param name="source">Driver of the host the VM runs on.</param>
    /// <param name="destination">Driver of the target host. Timestamps of both drivers must share a clock (same host, or tests).</param>
    /// <param name="vmId">The running VM.</param>
    /// <param name="options">Source-side options.</param>
    /// <param name="incomingOptions">Destination-side options; default listens on 127.0.0.1 with verification on.</param>
    /// <param name="cancellationToken">Cancels the migration (rolls back) before the commit point.</param>
    /// <param name="destinationSpec">The destination's spec made from the source's (e.g. its own tap names and console
    /// log); null uses the source's spec unchanged.</param>
    public static async Task<MigrationReport> RunAsync(
        IHypervisorDriver source,
        IHypervisorDriver destination,
        string vmId,
        MigrationOptions options,
        IncomingMigrationOptions? incomingOptions = null,
        CancellationToken cancellationToken = default,
        Func<VmSpec, VmSpec>? destinationSpec = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(options);
        incomingOptions ??= new IncomingMigrationOptions { VerifyConsistency = true };
        var frequency = source.TimeProvider.TimestampFrequency;

        var info = await source.GetVmAsync(vmId, cancellationToken).ConfigureAwait(false);
        await destination.CreateVmAsync(destinationSpec is null ? info.Spec : destinationSpec(info.Spec), cancellationToken).ConfigureAwait(false);
        IIncomingMigration? incoming = null;
        IOutgoingMigration? outgoing = null;
        var committed = false;
        try
        {
            incoming = await destination.PrepareIncomingAsync(vmId, incomingOptions, cancellationToken).ConfigureAwait(false);
            var start = source.TimeProvider.GetTimestamp();
            outgoing = await source.StartOutgoingAsync(vmId, incoming.Endpoint, options, cancellationToken).ConfigureAwait(false);
            var paused = await outgoing.PreSwitchover.WaitAsync(cancellationToken).ConfigureAwait(false);

            // The orchestrator would run disk hand-over and relay enable here, in parallel with the final copy.
            var finalCopy = outgoing.FinalCopyAsync(CancellationToken.None);
            var received = await incoming.Received.WaitAsync(cancellationToken).ConfigureAwait(false);
            var resumed = await incoming.ResumeAsync(CancellationToken.None).ConfigureAwait(false);
            committed = true;
            var totalMs = source.TimeProvider.GetElapsedTime(start).TotalMilliseconds;

            FinalCopyResult final;
            try
            {
                final = await finalCopy.ConfigureAwait(false);
            }
            catch (MigrationFailedException ex) when (ex.Kind == MigrationFailureKind.Indeterminate)
            {
                // The destination runs: roll forward whatever the acknowledgement did.
                await outgoing.CompleteAsync(CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            await outgoing.CompleteAsync(CancellationToken.None).ConfigureAwait(false);
            var consistency = await incoming.Consistency.ConfigureAwait(false);
            var sourceStats = outgoing.GetStatistics();
            var destinationStats = incoming.GetStatistics();
            return new MigrationReport(
                vmId,
                paused.Reason,
                outgoing.GetRounds(),
                outgoing.GetPreLastCopyDecisions(),
                DowntimeBreakdown.From(paused, final, received, resumed, frequency),
                totalMs,
                paused.PreCopyMs,
                paused.PreLastCopyMs,
                sourceStats,
                destinationStats,
                sourceStats.CompressionCpuSeconds + destinationStats.DecompressionCpuSeconds,
                consistency);
        }
        catch when (!committed)
        {
            if (outgoing is not null && outgoing.State is not (OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed or OutgoingMigrationState.Completed))
                await outgoing.CancelAsync("migration run failed", CancellationToken.None).ConfigureAwait(false);
            if (incoming is not null)
                await incoming.AbortAsync("migration run failed", CancellationToken.None).ConfigureAwait(false);
            await destination.DestroyVmAsync(vmId, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }
}
