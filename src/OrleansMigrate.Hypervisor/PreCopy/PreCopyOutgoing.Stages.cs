using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>Pre-copy rounds, the pre-last-copy stage and the pause: the decisions, whatever carries the rounds.</summary>
internal abstract partial class PreCopyOutgoing
{
    /// <summary>A note for a limit failure's message naming the clock its times are on ("" for the wall clock).</summary>
    protected virtual string ClockNote => "";

    /// <summary>
    /// The next pre-copy round after <paramref name="last"/> (pre-copy has run <paramref name="elapsedMs"/>): the pages
    /// dirtied since. A model may instead wait out a run of identical rounds and return <paramref name="last"/>;
    /// <paramref name="signals"/> is <see cref="Signals"/> as read before the stop rules were checked.
    /// </summary>
    protected virtual Task<RoundRecord> NextPreCopyRoundAsync(RoundRecord last, double elapsedMs, int signals, CancellationToken cancellationToken) =>
        SendRoundAsync(RoundStage.PreCopy, everyPage: false, cancellationToken);

    /// <summary>The dirty rate the pre-last-copy stage reports after <paramref name="round"/>, bytes/s: the round's own by default.</summary>
    protected virtual double StageDirtyRate(RoundRecord round) => round.DirtyRateBytesPerSecond;

    /// <summary>
    /// Between two pre-last-copy rounds that decided to wait: sleeps <paramref name="pollMs"/> (non-zero after a
    /// near-empty round). A model may also wait out a run of identical rounds until the verdict could change at
    /// stage time <paramref name="verdictChangesAtMs"/>; it returns how many rounds it added (they count as more
    /// checks of the last decision).
    /// </summary>
    protected virtual async Task<long> BetweenStageRoundsAsync(RoundRecord round, double pollMs, double stageStartMs, double verdictChangesAtMs, int signals, CancellationToken cancellationToken)
    {
        if (pollMs > 0)
            await Task.Delay(TimeSpan.FromMilliseconds(pollMs), Time, cancellationToken).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Before the pause is timed: a model pays its clock's debt here.</summary>
    protected virtual Task BeforePauseAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task PreCopyAsync(CancellationToken cancellationToken)
    {
        BeginOutgoing();
        var preCopyStart = NowMs();

        // Round 1 sends every page; writes made meanwhile are in the dirty set cleared by BeginOutgoing.
        var round = await SendRoundAsync(RoundStage.PreCopy, everyPage: true, cancellationToken).ConfigureAwait(false);
        lock (Sync)
            _bulkBandwidth = round.BandwidthBytesPerSecond;

        SwitchoverReason reason;
        while (true)
        {
            var signals = Signals;
            var elapsed = NowMs() - preCopyStart;
            if (StopPreCopy(round, elapsed) is { } stop)
            {
                reason = stop;
                break;
            }

            round = await NextPreCopyRoundAsync(round, elapsed, signals, cancellationToken).ConfigureAwait(false);
        }

        var preCopyMs = NowMs() - preCopyStart;
        var stageStart = NowMs();
        if (!Options.PreLastCopy.Enabled || (_switchoverRequested && _skipPreLastCopy))
        {
            var why = Options.PreLastCopy.Enabled ? "switchover requested with the stage skipped" : "pre-last-copy disabled";
            RecordDecision(stageStart, round.DirtyRateBytesPerSecond, PendingPages() * PageSize, round.EstimatedDowntimeMs, PreLastCopyVerdict.Skipped, why, fold: false);
        }
        else
        {
            TransitionTo(OutgoingMigrationState.PreLastCopy);
            await PreLastCopyAsync(stageStart, reason, cancellationToken).ConfigureAwait(false);
        }

        await BeforePauseAsync(cancellationToken).ConfigureAwait(false);
        var pauseMs = NowMs();
        var preLastCopyMs = pauseMs - stageStart;
        var pausedAtUtc = Time.GetUtcNow();
        var (pauseRequested, paused) = PauseGuest(pauseMs);
        TransitionTo(OutgoingMigrationState.PreSwitchover);
        var pending = PendingPages();
        var estimate = EstimateDowntimeMs(pending);
        lock (Sync)
            _lastEstimateMs = estimate;
        _preSwitchover.TrySetResult(new PreSwitchoverInfo(reason, RoundCount, pending, estimate, preCopyMs, preLastCopyMs, pauseRequested, paused, pausedAtUtc));
    }

    /// <summary>
    /// The pre-copy loop's rule after a round: why to stop iterating (a switchover request, convergence to the downtime
    /// target, the round or time limit), or null to send another round. At a limit with
    /// <see cref="PreCopyLimitAction.Fail"/> it throws the limit failure (the run task rolls back).
    /// </summary>
    private SwitchoverReason? StopPreCopy(RoundRecord round, double elapsedMs)
    {
        if (_switchoverRequested)
            return SwitchoverReason.Requested;
        if (round.EstimatedDowntimeMs <= DowntimeTargetMs)
            return SwitchoverReason.Converged;
        var rounds = RoundCount;
        if (rounds < Options.MaxRounds && elapsedMs < Options.MaxPreCopyMs)
            return null;
        var limit = rounds >= Options.MaxRounds ? SwitchoverReason.RoundLimit : SwitchoverReason.TimeLimit;
        if (Options.LimitAction == PreCopyLimitAction.Fail)
            throw Options.LimitFailure(limit, rounds, elapsedMs, round.EstimatedDowntimeMs, DowntimeTargetMs, ClockNote);
        return limit;
    }

    /// <summary>
    /// Keeps iterating while the estimated final copy exceeds the downtime target (a surge), for at least
    /// the observation window and at most <see cref="PreLastCopyOptions.MaxWaitMs"/>.
    /// </summary>
    private async Task PreLastCopyAsync(double stageStart, SwitchoverReason reason, CancellationToken cancellationToken)
    {
        var plc = Options.PreLastCopy;
        while (true)
        {
            var signals = Signals;
            if (_switchoverRequested && _skipPreLastCopy)
            {
                double rate;
                double estimate;
                lock (Sync)
                    (rate, estimate) = (_lastDirtyRate, _lastEstimateMs);
                RecordDecision(stageStart, rate, PendingPages() * PageSize, estimate, PreLastCopyVerdict.Skipped, "switchover requested with the stage skipped", fold: false);
                return;
            }

            var round = await SendRoundAsync(RoundStage.PreLastCopy, everyPage: false, cancellationToken).ConfigureAwait(false);
            var check = CheckPreLastCopy(round, stageStart, reason);
            if (check.Verdict != PreLastCopyVerdict.Wait)
                return;

            var pollMs = round.Pages < 16 && plc.PollIntervalMs > 0 ? plc.PollIntervalMs : 0;
            var changesAt = check.Fits ? Math.Min(plc.ObservationWindowMs, plc.MaxWaitMs) : plc.MaxWaitMs;
            var repeated = await BetweenStageRoundsAsync(round, pollMs, stageStart, changesAt, signals, cancellationToken).ConfigureAwait(false);
            if (repeated > 0)
            {
                lock (Sync)
                {
                    if (_decisions.Count > 0)
                        _decisions[^1] = _decisions[^1] with { Checks = _decisions[^1].Checks + (int)Math.Min(repeated, int.MaxValue - _decisions[^1].Checks) };
                }
            }
        }
    }

    /// <summary>
    /// The pre-last-copy verdict after a stage round, recorded: proceed once the estimate fits the target and the
    /// observation window passed, give up at the maximum wait, else wait (a surge, or still observing).
    /// </summary>
    private (PreLastCopyVerdict Verdict, bool Fits) CheckPreLastCopy(RoundRecord round, double stageStart, SwitchoverReason reason)
    {
        var plc = Options.PreLastCopy;
        var rate = StageDirtyRate(round);
        var pendingPages = PendingPages();
        var estimate = EstimateDowntimeMs(pendingPages);
        var elapsed = NowMs() - stageStart;
        var target = DowntimeTargetMs;
        var pendingBytes = pendingPages * PageSize;
        var fits = estimate <= target;
        if (fits && elapsed >= plc.ObservationWindowMs)
        {
            RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.Proceed,
                $"estimated final copy {estimate:F2} ms fits the {target} ms target after {elapsed:F0} ms in the stage (pre-copy stopped: {reason}); dirty rate {rate / 1e6:F1} MB/s", fold: false);
            return (PreLastCopyVerdict.Proceed, fits);
        }

        if (elapsed >= plc.MaxWaitMs)
        {
            RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.GiveUp,
                $"max wait {plc.MaxWaitMs} ms reached with estimated final copy {estimate:F2} ms > target {target} ms; switching over anyway", fold: false);
            return (PreLastCopyVerdict.GiveUp, fits);
        }

        RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.Wait, fits
            ? $"estimate {estimate:F2} ms fits; observing the dirty rate for the {plc.ObservationWindowMs} ms window"
            : $"surge: estimated final copy {estimate:F2} ms > target {target} ms at dirty rate {rate / 1e6:F1} MB/s; iterating", fold: true);
        return (PreLastCopyVerdict.Wait, fits);
    }

    private void RecordDecision(double stageStart, double rate, long pendingBytes, double estimate, PreLastCopyVerdict verdict, string reason, bool fold)
    {
        var now = NowMs();
        var record = new PreLastCopyDecision(now, now - stageStart, rate, pendingBytes, estimate, verdict, reason, 1);
        lock (Sync)
        {
            // Consecutive checks with the same verdict and kind of reason fold into one record.
            if (fold && _decisions.Count > 0 && _decisions[^1] is { } last && last.Verdict == verdict && SameKind(last.Reason, reason))
                _decisions[^1] = record with { Checks = last.Checks + 1 };
            else
                _decisions.Add(record);
        }

        static bool SameKind(string a, string b) => a.StartsWith("surge", StringComparison.Ordinal) == b.StartsWith("surge", StringComparison.Ordinal);
    }
}
