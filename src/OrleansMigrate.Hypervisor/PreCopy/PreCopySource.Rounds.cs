using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>Pre-copy rounds, the pre-last-copy stage and the pause.</summary>
internal sealed partial class PreCopySource
{
    private const int SessionRecordsPerFrame = 1024;

    private async Task PreCopyAsync(CancellationToken cancellationToken)
    {
        var memory = _guest.Memory;
        var dirty = _guest.DirtyPages;
        _guest.BeginOutgoing();
        var preCopyStart = _time.GetTimestamp();

        // Round 1 sends every page; writes made meanwhile are in the bitmap cleared by BeginOutgoing.
        for (var i = 0; i < memory.PageCount; i++)
            _pageList[i] = i;
        var round = await SendRoundAsync(RoundStage.PreCopy, memory.PageCount, cancellationToken).ConfigureAwait(false);
        lock (_lock)
            _bulkBandwidth = round.BandwidthBytesPerSecond;

        SwitchoverReason reason;
        while (true)
        {
            if (_switchoverRequested)
            {
                reason = SwitchoverReason.Requested;
                break;
            }

            if (round.EstimatedDowntimeMs <= DowntimeTargetMs)
            {
                reason = SwitchoverReason.Converged;
                break;
            }

            if (_round >= _options.MaxRounds || ElapsedMs(preCopyStart) >= _options.MaxPreCopyMs)
            {
                reason = _round >= _options.MaxRounds ? SwitchoverReason.RoundLimit : SwitchoverReason.TimeLimit;
                if (_options.LimitAction == PreCopyLimitAction.Fail)
                {
                    throw _options.LimitFailure(reason, _round, ElapsedMs(preCopyStart), round.EstimatedDowntimeMs, DowntimeTargetMs);
                }

                break;
            }

            var pages = dirty.Harvest(_pageList);
            round = await SendRoundAsync(RoundStage.PreCopy, pages, cancellationToken).ConfigureAwait(false);
        }

        var preCopyMs = ElapsedMs(preCopyStart);
        var stageStart = _time.GetTimestamp();
        if (!_options.PreLastCopy.Enabled || (_switchoverRequested && _skipPreLastCopy))
        {
            var why = _options.PreLastCopy.Enabled ? "switchover requested with the stage skipped" : "pre-last-copy disabled";
            RecordDecision(stageStart, round.DirtyRateBytesPerSecond, dirty.CountDirty() * PageBatchFormat.PageSize, round.EstimatedDowntimeMs, PreLastCopyVerdict.Skipped, why, fold: false);
        }
        else
        {
            TransitionTo(OutgoingMigrationState.PreLastCopy);
            await PreLastCopyAsync(stageStart, reason, cancellationToken).ConfigureAwait(false);
        }

        var preLastCopyMs = ElapsedMs(stageStart);
        var pauseRequested = _time.GetTimestamp();
        var pausedAtUtc = _time.GetUtcNow();
        _guest.PauseForSwitchover();
        var paused = _time.GetTimestamp();
        TransitionTo(OutgoingMigrationState.PreSwitchover);
        var pending = dirty.CountDirty();
        var estimate = EstimateDowntimeMs(pending, _guest.Sessions?.PendingChanges ?? 0);
        lock (_lock)
            _lastEstimateMs = estimate;
        _preSwitchover.TrySetResult(new PreSwitchoverInfo(reason, _round, pending, estimate, preCopyMs, preLastCopyMs, pauseRequested, paused, pausedAtUtc));
    }

    /// <summary>
    /// Keeps iterating while the estimated final copy exceeds the downtime target (a surge), for at least
    /// the observation window and at most <see cref="PreLastCopyOptions.MaxWaitMs"/>. The dirty rate it
    /// reports is measured over the rounds of the last window.
    /// </summary>
    private async Task PreLastCopyAsync(long stageStart, SwitchoverReason reason, CancellationToken cancellationToken)
    {
        var plc = _options.PreLastCopy;
        var window = new Queue<(long End, long Dirtied, double Seconds)>();
        var frequency = (double)_time.TimestampFrequency;
        var windowTicks = (long)(Math.Max(plc.ObservationWindowMs, 1) * frequency / 1000);
        while (true)
        {
            if (_switchoverRequested && _skipPreLastCopy)
            {
                RecordDecision(stageStart, _lastDirtyRate, _guest.DirtyPages.CountDirty() * PageBatchFormat.PageSize, _lastEstimateMs, PreLastCopyVerdict.Skipped, "switchover requested with the stage skipped", fold: false);
                return;
            }

            var pages = _guest.DirtyPages.Harvest(_pageList);
            var round = await SendRoundAsync(RoundStage.PreLastCopy, pages, cancellationToken).ConfigureAwait(false);
            var now = _time.GetTimestamp();
            window.Enqueue((now, round.DirtiedPages, round.DurationMs / 1000));
            while (window.Count > 1 && now - window.Peek().End > windowTicks)
                window.Dequeue();
            long windowDirtied = 0;
            double windowSeconds = 0;
            foreach (var (_, dirtied, seconds) in window)
            {
                windowDirtied += dirtied;
                windowSeconds += seconds;
            }

            var rate = windowSeconds > 0 ? windowDirtied * (double)PageBatchFormat.PageSize / windowSeconds : 0;
            var pendingPages = _guest.DirtyPages.CountDirty();
            var estimate = EstimateDowntimeMs(pendingPages, _guest.Sessions?.PendingChanges ?? 0);
            var elapsed = ElapsedMs(stageStart);
            var target = DowntimeTargetMs;
            var pendingBytes = pendingPages * PageBatchFormat.PageSize;
            if (estimate <= target && elapsed >= plc.ObservationWindowMs)
            {
                RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.Proceed,
                    $"estimated final copy {estimate:F2} ms fits the {target} ms target after {elapsed:F0} ms in the stage (pre-copy stopped: {reason}); dirty rate {rate / 1e6:F1} MB/s", fold: false);
                return;
            }

            if (elapsed >= plc.MaxWaitMs)
            {
                RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.GiveUp,
                    $"max wait {plc.MaxWaitMs} ms reached with estimated final copy {estimate:F2} ms > target {target} ms; switching over anyway", fold: false);
                return;
            }

            if (estimate > target)
            {
                RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.Wait,
                    $"surge: estimated final copy {estimate:F2} ms > target {target} ms at dirty rate {rate / 1e6:F1} MB/s; iterating", fold: true);
            }
            else
            {
                RecordDecision(stageStart, rate, pendingBytes, estimate, PreLastCopyVerdict.Wait,
                    $"estimate {estimate:F2} ms fits; observing the dirty rate for the {plc.ObservationWindowMs} ms window", fold: true);
            }

            if (round.Pages < 16 && plc.PollIntervalMs > 0)
                await Task.Delay(TimeSpan.FromMilliseconds(plc.PollIntervalMs), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private void RecordDecision(long stageStart, double rate, long pendingBytes, double estimate, PreLastCopyVerdict verdict, string reason, bool fold)
    {
        var record = new PreLastCopyDecision(ElapsedMs(_startTimestamp), ElapsedMs(stageStart), rate, pendingBytes, estimate, verdict, reason, 1);
        lock (_lock)
        {
            // Consecutive checks with the same verdict and kind of reason fold into one record.
            if (fold && _decisions.Count > 0 && _decisions[^1] is { } last && last.Verdict == verdict && SameKind(last.Reason, reason))
                _decisions[^1] = record with { Checks = last.Checks + 1 };
            else
                _decisions.Add(record);
        }

        static bool SameKind(string a, string b) => a.StartsWith("surge", StringComparison.Ordinal) == b.StartsWith("surge", StringComparison.Ordinal);
    }

    /// <summary>
    /// Sends the pages listed in <c>_pageList[..pageCount]</c>, then the session-table delta, then a round-end
    /// marker paced exactly, and measures what the guest dirtied meanwhile.
    /// </summary>
    private async Task<RoundRecord> SendRoundAsync(RoundStage stage, int pageCount, CancellationToken cancellationToken)
    {
        var number = Interlocked.Increment(ref _round);
        var started = _time.GetTimestamp();
        var startedAtMs = ElapsedMs(_startTimestamp);
        var bytesBefore = _writer.BytesWritten;
        var compress = _options.Compression == CompressionMode.All;
        long zeroPages = 0;
        var position = 0;
        while (position < pageCount)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var frame = BuildPageFrame((uint)number, ref position, pageCount, compress, out var zeros, out _, out _);
            zeroPages += zeros;
            await _writer.EnqueueAsync(frame, cancellationToken).ConfigureAwait(false);
        }

        var (sessionEntries, _, _) = await SendSessionDeltaAsync((uint)number, compress, cancellationToken).ConfigureAwait(false);
        var payload = new byte[16];
        var length = ControlMessages.WriteRoundEnd(payload, pageCount, sessionEntries);
        var written = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _writer.EnqueueAsync(BuildControlFrame(FrameType.RoundEnd, (uint)number, payload.AsSpan(0, length), written), cancellationToken).ConfigureAwait(false);
        var ended = await written.Task.WaitAsync(cancellationToken).ConfigureAwait(false);

        var seconds = Math.Max((ended - started) / (double)_time.TimestampFrequency, 1e-6);
        var wireBytes = _writer.BytesWritten - bytesBefore;
        var dirtied = _guest.DirtyPages.CountDirty();
        var dirtyRate = dirtied * (double)PageBatchFormat.PageSize / seconds;
        lock (_lock)
        {
            _pagesSent += pageCount;
            _zeroPagesSent += zeroPages;
            if (wireBytes >= 64 << 10)
            {
                _measuredBytes += wireBytes;
                _measuredSeconds += seconds;
            }
        }

        var estimate = EstimateDowntimeMs(dirtied, _guest.Sessions?.PendingChanges ?? 0);
        var record = new RoundRecord(number, stage, startedAtMs, seconds * 1000, pageCount, zeroPages, wireBytes, sessionEntries, dirtied, dirtyRate, wireBytes / seconds, estimate);
        lock (_lock)
        {
            _rounds.Add(record);
            _lastDirtyRate = dirtyRate;
            _lastEstimateMs = estimate;
        }

        return record;
    }

    /// <summary>Builds one page-batch frame from <c>_pageList[position..end]</c>, advancing <paramref name="position"/>.</summary>
    private OutboundFrame BuildPageFrame(uint round, ref int position, int end, bool compress, out int zeroPages, out int rawLength, out bool compressed)
    {
        var memory = _guest.Memory;
        var maxRaw = PageBatchFormat.MaxRawLength(_pagesPerFrame);
        var raw = FrameBuffers.Rent(FrameEncoder.MaxFrameLength(maxRaw));
        var builder = new PageBatchBuilder(raw.AsSpan(FrameHeader.Size, maxRaw), _entries.AsSpan(0, _pagesPerFrame));
        while (position < end && !builder.IsFull)
        {
            var page = _pageList[position++];
            builder.Add((uint)page, memory.Page(page));
        }

        rawLength = builder.Finish();
        zeroPages = builder.ZeroPages;
        var count = (uint)builder.Count;
        var sequence = _sequence++;
        if (!compress)
        {
            compressed = false;
            var length = FrameEncoder.SealRaw(raw, FrameType.PageBatch, sequence, round, count, rawLength);
            return new OutboundFrame(raw, length, FrameType.PageBatch, ExactPacing: false, Written: null);
        }

        var output = FrameBuffers.Rent(FrameEncoder.MaxFrameLength(rawLength));
        var started = CpuMeter.Start();
        var frameLength = FrameEncoder.SealCompressed(raw.AsSpan(FrameHeader.Size, rawLength), output, FrameType.PageBatch, sequence, round, count, out compressed);
        _compressionCpu.Stop(started);
        FrameBuffers.Return(raw);
        if (compressed)
        {
            lock (_lock)
            {
                _compressedRawBytes += rawLength;
                _compressedWireBytes += frameLength - FrameHeader.Size;
            }
        }

        return new OutboundFrame(output, frameLength, FrameType.PageBatch, ExactPacing: false, Written: null);
    }

    /// <summary>Harvests the session table's dirty keys and sends them; returns records, raw bytes and wire bytes.</summary>
    private async Task<(int Entries, int RawBytes, long WireBytes)> SendSessionDeltaAsync(uint round, bool compress, CancellationToken cancellationToken)
    {
        var sessions = _guest.Sessions;
        if (sessions is null)
            return (0, 0, 0);
        _sessionScratch.Clear();
        sessions.HarvestDelta(_sessionScratch);
        long wire = 0;
        for (var offset = 0; offset < _sessionScratch.Count; offset += SessionRecordsPerFrame)
        {
            var count = Math.Min(SessionRecordsPerFrame, _sessionScratch.Count - offset);
            var frame = BuildSessionFrame(round, offset, count, compress);
            wire += frame.Length;
            await _writer.EnqueueAsync(frame, cancellationToken).ConfigureAwait(false);
        }

        return (_sessionScratch.Count, _sessionScratch.Count * SessionDeltaCodec.RecordSize, wire);
    }

    private OutboundFrame BuildSessionFrame(uint round, int offset, int count, bool compress)
    {
        var rawLength = count * SessionDeltaCodec.RecordSize;
        var raw = FrameBuffers.Rent(FrameEncoder.MaxFrameLength(rawLength));
        var payload = raw.AsSpan(FrameHeader.Size, rawLength);
        for (var i = 0; i < count; i++)
            SessionDeltaCodec.Write(payload[(i * SessionDeltaCodec.RecordSize)..], _sessionScratch[offset + i]);
        var sequence = _sequence++;
        if (!compress)
            return new OutboundFrame(raw, FrameEncoder.SealRaw(raw, FrameType.SessionDelta, sequence, round, (uint)count, rawLength), FrameType.SessionDelta, false, null);
        var output = FrameBuffers.Rent(FrameEncoder.MaxFrameLength(rawLength));
        var started = CpuMeter.Start();
        var length = FrameEncoder.SealCompressed(payload, output, FrameType.SessionDelta, sequence, round, (uint)count, out _);
        _compressionCpu.Stop(started);
        FrameBuffers.Return(raw);
        return new OutboundFrame(output, length, FrameType.SessionDelta, false, null);
    }

    private OutboundFrame BuildControlFrame(FrameType type, uint round, ReadOnlySpan<byte> payload, TaskCompletionSource<long>? written, bool compress = false)
    {
        var buffer = FrameBuffers.Rent(FrameEncoder.MaxFrameLength(payload.Length));
        var sequence = _sequence++;
        int length;
        if (compress)
        {
            var started = CpuMeter.Start();
            length = FrameEncoder.Encode(buffer, type, sequence, round, 0, payload, compress: true);
            _compressionCpu.Stop(started);
        }
        else
        {
            length = FrameEncoder.Encode(buffer, type, sequence, round, 0, payload);
        }

        var exact = type is FrameType.RoundEnd or FrameType.End;
        return new OutboundFrame(buffer, length, type, exact, written);
    }

    /// <summary>
    /// Downtime if the VM paused now: pending page bodies and entries, the session delta and the device
    /// state over the measured bandwidth, plus the fixed switchover overhead. Raw sizes: compression of
    /// the final copy only makes the real downtime shorter.
    /// </summary>
    private double EstimateDowntimeMs(long pendingPages, int pendingSessions)
    {
        var bytes = (pendingPages * (PageBatchFormat.PageSize + sizeof(uint)))
            + ((long)pendingSessions * SessionDeltaCodec.RecordSize)
            + _guest.DeviceStateBytes
            + (4 * FrameHeader.Size);
        double bandwidth;
        lock (_lock)
            bandwidth = MeasuredBandwidth();
        return (bytes / bandwidth * 1000) + _options.SwitchoverOverheadMs;
    }
}
