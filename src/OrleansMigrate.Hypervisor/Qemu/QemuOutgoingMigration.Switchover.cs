using System.Diagnostics;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>
/// The switchover as the control plane makes it (<see cref="TryRunBeforePause"/>). QEMU 7.2 pauses the guest the moment
/// its own check finds the rest small enough, and says so only afterwards (<c>STOP</c>): work that must be done while the
/// guest still runs — a relay that sends the guest's packets to the destination, so that none is left in the source's tap
/// when it stops — has no place there. So QEMU's own check is held (a downtime limit of 1 ms, which a guest still dirtying
/// memory does not meet), and the engine judges each <c>query-migrate</c> sample against the downtime target instead; when
/// the rest fits (or a switchover is asked for, or the pre-copy time limit forces one) it runs the caller's work, waits the
/// lead, and pauses the guest with <c>stop</c>. With the guest stopped nothing is dirtied any more: QEMU sends what is left
/// and reaches <c>pre-switchover</c> by itself.
/// </summary>
public sealed partial class QemuOutgoingMigration
{
    /// <summary>QEMU's downtime limit while held. Not 0: QEMU syncs its dirty bitmap only when what it holds falls under the
    /// limit's worth of bytes, so at 0 it would never sync again and would complete after one pass, sending everything the
    /// guest dirtied since inside the downtime.</summary>
    internal const long HoldDowntimeLimitMs = 1;

    /// <summary>How often a held migration is sampled (unless <see cref="QemuDriverOptions.ProgressIntervalMs"/> is shorter): a
    /// guest that dirties little meets even the 1 ms hold once its passes take under a millisecond, which can come a few
    /// passes after the bulk pass; the sooner a sample sees the rest fit the target, the likelier the control plane pauses
    /// the guest before QEMU does. One <c>query-migrate</c> every 5 ms is a small load on QEMU's main loop.</summary>
    internal const int HoldSampleIntervalMs = 5;

    /// <summary>The longest lead a caller may ask for between its work and the pause.</summary>
    public static readonly TimeSpan MaxPauseLead = TimeSpan.FromSeconds(1);

    private readonly object _beforeGate = new();
    private Action? _before;
    private Action? _undo;
    private TimeSpan _lead;
    private bool _beforeRan;
    private bool _holding;
    private bool _stopping;
    private long _stopSentTimestamp;
    private double _peakBandwidth;

    /// <summary>True while QEMU's own switchover is held and the control plane decides it.</summary>
    private bool Holding
    {
        get
        {
            lock (_gate)
                return _holding;
        }
    }

    /// <summary>The pause between two <c>query-migrate</c> samples, in ms.</summary>
    private int SampleIntervalMs => Holding ? Math.Min(HoldSampleIntervalMs, _driver.Options.ProgressIntervalMs) : _driver.Options.ProgressIntervalMs;

    /// <summary>True once the control plane sent (or is sending) <c>stop</c> for the switchover, rather than QEMU's own
    /// check pausing the guest.</summary>
    public bool PausedByControlPlane => Volatile.Read(ref _stopSentTimestamp) != 0;

    public bool TryRunBeforePause(Action before, Action undo, TimeSpan lead)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(undo);
        if (lead < TimeSpan.Zero || lead > MaxPauseLead)
            throw new ArgumentOutOfRangeException(nameof(lead), lead, $"the lead before the pause must be 0..{MaxPauseLead.TotalMilliseconds} ms");
        bool hold;
        lock (_gate)
        {
            if (_state is not OutgoingMigrationState.PreCopy || _stopTimestamp != 0)
                return false;
            lock (_beforeGate)
            {
                // Once per migration.
                if (_before is not null || _undo is not null || _beforeRan)
                    return false;
                _before = before;
                _undo = undo;
            }

            _lead = lead;

            // A switch to post-copy is QEMU's own (migrate-start-postcopy): the caller's work then runs at its pause.
            hold = _holding = !_options.PostCopy;
        }

        if (hold)
            _ = SetDowntimeLimitAsync(HoldDowntimeLimitMs);
        return true;
    }

    /// <summary>Held: whether the rest now fits the downtime target — QEMU has synced its dirty bitmap at least twice (the bulk
    /// pass is over), and the bytes still dirty plus those the guest dirties in one sampling interval (at QEMU's measured
    /// dirty rate, 0 until it measured one), at the fastest rate this migration has sent so far, take no longer than the
    /// target.</summary>
    private bool FitsTarget(QemuMigrationStats s)
    {
        var peak = _peakBandwidth = Math.Max(_peakBandwidth, s.BandwidthBytesPerSecond);
        if (!Holding || s.Status != "active" || s.DirtySyncCount < 2 || peak <= 0)
            return false;
        var pending = s.RemainingBytes + (s.DirtyRateBytesPerSecond * SampleIntervalMs / 1000.0);
        return pending / peak * 1000 <= DowntimeTargetMs;
    }

    /// <summary>The control plane's switchover: the caller's work with the guest running, the lead, then <c>stop</c>. QEMU
    /// pausing the guest first (its 1 ms check met) makes this a no-op: the caller's work then ran at its STOP.</summary>
    private async Task StopForSwitchoverAsync()
    {
        lock (_gate)
        {
            if (!_holding || _stopping || _state is not OutgoingMigrationState.PreCopy || _stopTimestamp != 0)
                return;
            _stopping = true;
        }

        RunBeforePause();
        if (_lead > TimeSpan.Zero)
            await Task.Delay(_lead).ConfigureAwait(false);
        lock (_gate)
        {
            if (_state is not OutgoingMigrationState.PreCopy || _stopTimestamp != 0)
                return;
            Volatile.Write(ref _stopSentTimestamp, Stopwatch.GetTimestamp());
        }

        try
        {
            await _process.ExecuteAsync("stop").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QemuException or QmpCommandException)
        {
            // QEMU went away (the events carry the outcome) or refused: the limit below still ends the hold.
        }

        // Nothing is dirtied any more: QEMU completes once it sent the rest. The largest limit makes its next check the one
        // that completes — and should the stop have been refused, QEMU's own switchover at that check.
        await SetDowntimeLimitAsync(MaxDowntimeLimitMs).ConfigureAwait(false);

        // The migration failed or was cancelled while the stop went out: its failure handling may have looked before the
        // stop landed, so the guest is resumed here too (idempotent).
        if (State is OutgoingMigrationState.Failed or OutgoingMigrationState.Cancelled && !_process.Exited.IsCompleted)
        {
            try
            {
                await EnsureSourceRunsAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QemuException or QmpCommandException)
            {
            }
        }
    }

    /// <summary>The caller's work before the pause, once: from <see cref="StopForSwitchoverAsync"/> with the guest running,
    /// or at QEMU's STOP (or pre-switchover) when QEMU paused first. Serialised with <see cref="UndoBeforePause"/>, so an
    /// undo never overtakes it. A failure is the caller's to report, never the event loop's.</summary>
    private void RunBeforePause()
    {
        lock (_beforeGate)
        {
            if (_before is not { } before)
                return;
            _before = null;
            _beforeRan = true;
            try
            {
                before();
            }
            catch (Exception)
            {
                // The action reports its own failures.
            }
        }
    }

    /// <summary>Before the source guest may run again after a failure or a rollback: the caller's work undone, once, when it
    /// ran; and it never runs later.</summary>
    private void UndoBeforePause()
    {
        lock (_beforeGate)
        {
            _before = null;
            if (!_beforeRan || _undo is not { } undo)
                return;
            _undo = null;
            try
            {
                undo();
            }
            catch (Exception)
            {
                // The action reports its own failures.
            }
        }
    }
}
