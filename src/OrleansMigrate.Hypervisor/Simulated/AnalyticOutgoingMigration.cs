using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.PreCopy;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The source side of an analytic migration: the pre-copy engine's own state machine (<see cref="PreCopyOutgoing"/>:
/// rounds, pre-last-copy stage, pause at the pre-switchover point, final copy, commit or rollback) with every transfer
/// computed instead of sent. Round 1 carries all memory; each later round carries what the guest dirtied during the one before
/// (dirty rate × round time, capped by the working set); a round lasts its bytes over the link bandwidth
/// (at least <see cref="MinRoundMs"/>), on the migration's <see cref="AnalyticClock"/>, i.e. divided by the
/// time acceleration on the wall clock.
/// </summary>
/// <remarks>
/// Every time and rate it reports (rounds, progress, <see cref="PreSwitchoverInfo"/>, <see cref="FinalCopyResult"/>
/// timestamps, hence the downtime a <see cref="DowntimeBreakdown"/> computes from them) is modelled time, not wall
/// time; <see cref="PreSwitchoverInfo.PausedAtUtc"/> stays wall-clock for correlation. Not modelled: page content
/// (no zero pages, no compression), frame headers, the session table (no session delta) and load surges. A guest
/// whose dirty rate reaches the bandwidth never converges: its rounds repeat identically, and such a run of
/// identical rounds is waited out in one timer until a limit, a switchover request or a new downtime target.
/// </remarks>
internal sealed class AnalyticOutgoingMigration : PreCopyOutgoing
{
    /// <summary>Shortest modelled round, in ms: a dirty-bitmap sync and the round-end marker are never free.</summary>
    public const double MinRoundMs = 1;

    private readonly AnalyticVm _vm;
    private readonly AnalyticIncomingMigration _peer;
    private readonly AnalyticClock _clock;
    private readonly double _bandwidth;
    private long _pagesSent;
    private long _bytesSent;
    private long _pendingPages;
    private bool _inRound;
    private double _roundStartMs;
    private double _roundMs;
    private long _roundPages;
    private long _roundDirtied;
    private bool _inRun;
    private long _runMaxRounds;
    private IncomingResult? _handOver;

    private AnalyticOutgoingMigration(AnalyticVm vm, AnalyticIncomingMigration peer, MigrationEndpoint destination, MigrationOptions options, TimeProvider time, double acceleration)
        : base(vm.VmId, destination, options, time)
    {
        _vm = vm;
        _peer = peer;
        _clock = new AnalyticClock(time, acceleration);
        _bandwidth = options.LinkBandwidthBytesPerSecond > 0 ? options.LinkBandwidthBytesPerSecond : MigrationOptions.DefaultLinkBandwidthBytesPerSecond;
    }

    /// <summary>The modelled link bandwidth in bytes/s (the option's cap; 10 Gb/s when the option is uncapped).</summary>
    public double BandwidthBytesPerSecond => _bandwidth;

    internal AnalyticClock Clock => _clock;

    protected override string ClockNote => " (modelled)";

    /// <summary>"Connects" to the incoming migration listening at <paramref name="destination"/> and starts pre-copy in the background.</summary>
    public static AnalyticOutgoingMigration Start(AnalyticVm vm, MigrationEndpoint destination, MigrationOptions options, TimeProvider time, double acceleration)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var peer = AnalyticEndpoints.Claim(destination)
            ?? throw new MigrationFailedException(MigrationFailureKind.Transport, $"Cannot open the migration stream to {destination}: no analytic migration listens there.");
        if (!string.Equals(peer.VmId, vm.VmId, StringComparison.Ordinal) || peer.PageCount != vm.PageCount)
        {
            var why = $"stream of '{vm.VmId}' ({vm.PageCount} pages) offered to the target of '{peer.VmId}' ({peer.PageCount} pages)";
            peer.SourceEnded(MigrationFailureKind.Rejected, why);
            throw new MigrationFailedException(MigrationFailureKind.Rejected, $"Destination {destination} refused the stream: {why}.");
        }

        var outgoing = new AnalyticOutgoingMigration(vm, peer, destination, options, time, acceleration);
        if (!peer.Connect(outgoing))
            throw new MigrationFailedException(MigrationFailureKind.Transport, $"Cannot open the migration stream to {destination}: the destination is {peer.State}.");
        outgoing.Launch();
        return outgoing;
    }

    public override MigrationProgress GetProgress()
    {
        var now = _clock.NowMs();
        lock (Sync)
        {
            var round = RoundCount;
            var pagesSent = _pagesSent;
            var remaining = _pendingPages;
            if (_inRound && _roundMs > 0)
            {
                var fraction = Math.Clamp((now - _roundStartMs) / _roundMs, 0, 1);
                var sent = (long)(fraction * _roundPages);
                pagesSent += sent;
                remaining = _roundPages - sent + (long)(fraction * _roundDirtied);
            }
            else if (_inRun && _roundMs > 0)
            {
                var rounds = Math.Clamp((long)((now - _roundStartMs) / _roundMs), 0, _runMaxRounds);
                round += (int)rounds;
                pagesSent += rounds * _roundPages;
            }

            return Progress(round, now, _bytesSent + ((pagesSent - _pagesSent) * PageSize), pagesSent, remaining, _bandwidth);
        }
    }

    public override OutgoingStatistics GetStatistics()
    {
        lock (Sync)
            return new OutgoingStatistics(_bytesSent, RoundCount, _pagesSent, 0, 0, 0, 0, BulkBandwidth);
    }

    /// <summary>The destination failed or was aborted: before the end of the final copy the source rolls back.</summary>
    internal void DestinationFailed(string message) =>
        Fail(new MigrationFailedException(MigrationFailureKind.DestinationFailed, $"Destination {Destination} failed: {message}"), evenAfterEnd: false);

    protected override double NowMs() => _clock.NowMs();

    protected override long PendingPages() => Volatile.Read(ref _pendingPages);

    /// <summary>Downtime if the VM paused now: pending pages and the device state over the bandwidth, plus the fixed switchover overhead.</summary>
    protected override double EstimateDowntimeMs(long pendingPages) =>
        (((pendingPages * (double)PageSize) + _vm.DeviceStateBytes) / _bandwidth * 1000) + Options.SwitchoverOverheadMs;

    protected override void BeginOutgoing() => _vm.BeginOutgoing();

    protected override Task BeforePauseAsync(CancellationToken cancellationToken) => _clock.SettleAsync(cancellationToken);

    protected override (long Requested, long Paused) PauseGuest(double atMs)
    {
        var at = _clock.Timestamp(atMs);
        _vm.PauseForSwitchover();
        return (at, at);
    }

    /// <summary>At a fixed point (a round carries what the one before did) every next round repeats it: wait them out in one timer.</summary>
    protected override async Task<RoundRecord> NextPreCopyRoundAsync(RoundRecord last, double elapsedMs, int signals, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _pendingPages) == last.Pages)
        {
            // A fixed point: every next round repeats this one until a limit or a signal.
            var untilLimit = Math.Min(Options.MaxRounds - RoundCount, (long)Math.Ceiling((Options.MaxPreCopyMs - elapsedMs) / last.DurationMs));
            if (untilLimit > 2)
            {
                await RepeatRoundAsync(last, last.DurationMs, untilLimit - 1, signals, cancellationToken).ConfigureAwait(false);
                return last;
            }
        }

        return await SendRoundAsync(RoundStage.PreCopy, everyPage: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The guest keeps dirtying while the stage polls; at a fixed point the stage's rounds repeat until the verdict could change.</summary>
    protected override async Task<long> BetweenStageRoundsAsync(RoundRecord round, double pollMs, double stageStartMs, double verdictChangesAtMs, int signals, CancellationToken cancellationToken)
    {
        if (pollMs > 0)
        {
            await _clock.AdvanceAsync(pollMs, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _pendingPages, _vm.PagesDirtiedIn((round.DurationMs + pollMs) / 1000));
        }

        if (Volatile.Read(ref _pendingPages) != round.Pages)
            return 0;
        var period = round.DurationMs + pollMs;
        var untilLimit = (long)Math.Ceiling((verdictChangesAtMs - (_clock.NowMs() - stageStartMs)) / period);
        return untilLimit > 2
            ? await RepeatRoundAsync(round, period, untilLimit - 1, signals, cancellationToken).ConfigureAwait(false)
            : 0;
    }

    /// <summary>
    /// Sends every page or the pending ones (modelled): the round lasts their bytes over the bandwidth, and the guest
    /// dirties rate × that time (capped by the working set), which is what the next round or the final copy carries.
    /// </summary>
    protected override async Task<RoundRecord> SendRoundAsync(RoundStage stage, bool everyPage, CancellationToken cancellationToken)
    {
        var pages = everyPage ? _vm.PageCount : Volatile.Read(ref _pendingPages);
        var bytes = pages * PageSize;
        var durationMs = Math.Max(bytes / _bandwidth * 1000, MinRoundMs);
        var dirtied = _vm.PagesDirtiedIn(durationMs / 1000);
        var number = NextRound();
        lock (Sync)
        {
            _inRound = true;
            _roundStartMs = _clock.NowMs();
            _roundMs = durationMs;
            _roundPages = pages;
            _roundDirtied = dirtied;
        }

        var startedAtMs = await _clock.AdvanceAsync(durationMs, cancellationToken).ConfigureAwait(false);
        var seconds = durationMs / 1000;
        var estimate = EstimateDowntimeMs(dirtied);
        var record = new RoundRecord(number, stage, startedAtMs, durationMs, pages, 0, bytes, 0, dirtied, dirtied * (double)PageSize / seconds, bytes / seconds, estimate);
        lock (Sync)
        {
            _inRound = false;
            _pagesSent += pages;
            _bytesSent += bytes;
            _pendingPages = dirtied;
            RecordRound(record);
        }

        return record;
    }

    /// <summary>The stop-and-copy: the pending pages and the device state over the bandwidth, on the modelled clock.</summary>
    protected override async Task<FinalCopyResult> CopyFinalAsync(long requestedAt, CancellationToken cancellationToken)
    {
        var pages = Volatile.Read(ref _pendingPages);
        var pageBytes = pages * PageSize;
        var device = _vm.DeviceStateBytes;
        var pagesMs = pageBytes / _bandwidth * 1000;
        var totalMs = pagesMs + (device / _bandwidth * 1000);
        NextRound();
        lock (Sync)
        {
            _inRound = true;
            _roundStartMs = _clock.NowMs();
            _roundMs = totalMs;
            _roundPages = pages;
            _roundDirtied = 0;
        }

        var started = await _clock.AdvanceAsync(totalMs, cancellationToken).ConfigureAwait(false);
        var end = _clock.Timestamp(started + totalMs);
        lock (Sync)
        {
            MarkEndWritten(unlessFailed: true);
            _inRound = false;
            _pagesSent += pages;
            _bytesSent += pageBytes + device;
            _pendingPages = 0;
            // One "frame" per round plus the device state and the end marker.
            _handOver = new IncomingResult(RoundCount + 2, _bytesSent, _pagesSent, 0, 0, 0, end);
        }

        var pagesAt = _clock.Timestamp(started + pagesMs);
        return new FinalCopyResult(pages, 0, pageBytes, pageBytes + device, 0, device, 0, 0, 0,
            _clock.Timestamp(started), pagesAt, pagesAt, end, end, end);
    }

    /// <summary>
    /// Awaiting the commit before the destination hears of it: the orchestrator may resume it and complete this side
    /// the moment it has received everything.
    /// </summary>
    protected override void OnAwaitingCommit()
    {
        if (!_peer.Deliver(_handOver!, _clock))
        {
            var failure = new MigrationFailedException(MigrationFailureKind.DestinationFailed, $"Destination {Destination} failed before it received the final copy ({_peer.State}).");
            Fail(failure, evenAfterEnd: true);
            throw failure;
        }
    }

    protected override Task OnCommittedAsync()
    {
        _vm.EndOutgoingCommitted();
        return Task.CompletedTask;
    }

    protected override Task OnRolledBackAsync(bool cancelled, string? cancelReason, MigrationFailedException failure)
    {
        _vm.EndOutgoingRolledBack();
        _peer.SourceEnded(
            cancelled ? MigrationFailureKind.SourceAborted : MigrationFailureKind.Transport,
            cancelled ? $"source aborted: {cancelReason}" : $"source failed: {failure.Message}");
        return Task.CompletedTask;
    }

    protected override Task OnDisposedAsync()
    {
        // A rolled-back VM stays on this host: it keeps no rounds of a disposed migration.
        if (ReferenceEquals(_vm.Outgoing, this))
            _vm.Outgoing = null;
        return Task.CompletedTask;
    }

    /// <summary>
    /// Up to <paramref name="maxRounds"/> more rounds identical to <paramref name="template"/>, one every
    /// <paramref name="periodMs"/>, waited out in one timer; cut short by a signal after <paramref name="signals"/>.
    /// Returns how many rounds were recorded.
    /// </summary>
    private async Task<long> RepeatRoundAsync(RoundRecord template, double periodMs, long maxRounds, int signals, CancellationToken cancellationToken)
    {
        var wake = ArmWake(signals);
        if (wake is null)
            return 0;
        lock (Sync)
        {
            _inRun = true;
            _roundStartMs = _clock.NowMs();
            _roundMs = periodMs;
            _roundPages = template.Pages;
            _runMaxRounds = maxRounds;
        }

        var (start, count) = await _clock.AdvanceRunAsync(periodMs, maxRounds, wake, cancellationToken).ConfigureAwait(false);
        DisarmWake();
        lock (Sync)
        {
            _inRun = false;
            RecordRepeatedRounds(template, start, count, periodMs);
            _pagesSent += count * template.Pages;
            _bytesSent += count * template.WireBytes;
        }

        return count;
    }
}
