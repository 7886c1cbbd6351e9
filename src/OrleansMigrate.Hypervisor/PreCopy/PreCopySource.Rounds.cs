using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>Pre-copy rounds over the wire: page, session-delta and control frames, and the downtime estimate.</summary>
internal sealed partial class PreCopySource
{
    private const int SessionRecordsPerFrame = 1024;

    /// <summary>The pre-last-copy stage's rounds of the last observation window: end (ms), pages dirtied, duration (s).</summary>
    private readonly Queue<(double EndMs, long Dirtied, double Seconds)> _window = new();

    /// <summary>The dirty rate measured over the stage rounds of the last observation window.</summary>
    protected override double StageDirtyRate(RoundRecord round)
    {
        var now = NowMs();
        var windowMs = Math.Max(Options.PreLastCopy.ObservationWindowMs, 1);
        _window.Enqueue((now, round.DirtiedPages, round.DurationMs / 1000));
        while (_window.Count > 1 && now - _window.Peek().EndMs > windowMs)
            _window.Dequeue();
        long windowDirtied = 0;
        double windowSeconds = 0;
        foreach (var (_, dirtied, seconds) in _window)
        {
            windowDirtied += dirtied;
            windowSeconds += seconds;
        }

        return windowSeconds > 0 ? windowDirtied * (double)PageBatchFormat.PageSize / windowSeconds : 0;
    }

    /// <summary>
    /// Sends every page or the harvested dirty ones, then the session-table delta, then a round-end
    /// marker paced exactly, and measures what the guest dirtied meanwhile.
    /// </summary>
    protected override async Task<RoundRecord> SendRoundAsync(RoundStage stage, bool everyPage, CancellationToken cancellationToken)
    {
        int pageCount;
        if (everyPage)
        {
            pageCount = _guest.Memory.PageCount;
            for (var i = 0; i < pageCount; i++)
                _pageList[i] = i;
        }
        else
        {
            pageCount = _guest.DirtyPages.Harvest(_pageList);
        }

        var number = NextRound();
        var started = Time.GetTimestamp();
        var startedAtMs = NowMs();
        var bytesBefore = _writer.BytesWritten;
        var compress = Options.Compression == CompressionMode.All;
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

        var seconds = Math.Max((ended - started) / (double)Time.TimestampFrequency, 1e-6);
        var wireBytes = _writer.BytesWritten - bytesBefore;
        var dirtied = _guest.DirtyPages.CountDirty();
        var dirtyRate = dirtied * (double)PageBatchFormat.PageSize / seconds;
        lock (Sync)
        {
            _pagesSent += pageCount;
            _zeroPagesSent += zeroPages;
            if (wireBytes >= 64 << 10)
            {
                _measuredBytes += wireBytes;
                _measuredSeconds += seconds;
            }
        }

        var estimate = EstimateDowntimeMs(dirtied);
        var record = new RoundRecord(number, stage, startedAtMs, seconds * 1000, pageCount, zeroPages, wireBytes, sessionEntries, dirtied, dirtyRate, wireBytes / seconds, estimate);
        RecordRound(record);
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
            lock (Sync)
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
    protected override double EstimateDowntimeMs(long pendingPages)
    {
        var pendingSessions = _guest.Sessions?.PendingChanges ?? 0;
        var bytes = (pendingPages * (PageBatchFormat.PageSize + sizeof(uint)))
            + ((long)pendingSessions * SessionDeltaCodec.RecordSize)
            + _guest.DeviceStateBytes
            + (4 * FrameHeader.Size);
        double bandwidth;
        lock (Sync)
            bandwidth = MeasuredBandwidth();
        return (bytes / bandwidth * 1000) + Options.SwitchoverOverheadMs;
    }
}
