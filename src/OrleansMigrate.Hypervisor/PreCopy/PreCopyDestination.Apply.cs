using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>The apply worker: verify, decompress, apply, in stream order.</summary>
internal sealed partial class PreCopyDestination
{
    // Decompression target, rented and touched before the stream starts: allocating it on the first
    // compressed frame would put fresh-memory faults inside the downtime.
    private byte[] _scratch = PrepareScratch(PageBatchFormat.MaxRawLength(PageBatchFormat.MaxPages));
    private uint _expectedSequence = 1;
    private long _pagesInRound;
    private int _sessionsInRound;
    private bool _deviceStateReceived;

    private async Task ApplyLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            var reader = _frames.Reader;
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out var frame))
                {
                    bool ended;
                    try
                    {
                        ended = Apply(frame.Header, frame.Buffer.AsSpan(0, frame.Header.PayloadLength));
                    }
                    finally
                    {
                        FrameBuffers.Return(frame.Buffer);
                    }

                    if (ended)
                    {
                        // Acknowledge before declaring the stream received: once Received completes the
                        // orchestrator may resume and close the connection, and the source must have its ack.
                        await AcknowledgeAsync(cancellationToken).ConfigureAwait(false);
                        MarkReceived();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (State is IncomingMigrationState.Resumed or IncomingMigrationState.Failed)
        {
            // Resumed or already failing.
        }
        catch (Exception ex)
        {
            Fail(Classify(ex));
        }
    }

    /// <summary>Applies one frame; returns true for a valid end marker (the caller acknowledges, then marks the stream received).</summary>
    private bool Apply(in FrameHeader header, ReadOnlySpan<byte> wire)
    {
        if (header.Sequence != _expectedSequence)
            throw new MigrationFailedException(MigrationFailureKind.Protocol, $"Frame #{header.Sequence} arrived where #{_expectedSequence} was expected.");
        _expectedSequence++;
        if (Received.IsCompleted)
            throw new MigrationFailedException(MigrationFailureKind.Protocol, $"{header.Type} frame after the end of the stream.");

        ReadOnlySpan<byte> raw;
        if (header.IsCompressed)
        {
            if (_scratch.Length < header.RawLength)
            {
                FrameBuffers.Return(_scratch);
                _scratch = PrepareScratch(header.RawLength);
            }
            var started = CpuMeter.Start();
            raw = FrameDecoder.DecodePayload(header, wire, _scratch);
            _decompressionCpu.Stop(started);
        }
        else
        {
            raw = FrameDecoder.DecodePayload(header, wire, []);
        }

        switch (header.Type)
        {
            case FrameType.PageBatch:
                ApplyPages(header, raw);
                return false;
            case FrameType.SessionDelta:
                ApplySessions(header, raw);
                return false;
            case FrameType.RoundEnd:
                var (pages, sessions) = ControlMessages.ReadRoundEnd(raw);
                if (pages != _pagesInRound || sessions != _sessionsInRound)
                {
                    throw new MigrationFailedException(MigrationFailureKind.Protocol,
                        $"Round {header.Round} announced {pages} pages and {sessions} session records; received {_pagesInRound} and {_sessionsInRound}.");
                }

                _pagesInRound = 0;
                _sessionsInRound = 0;
                return false;
            case FrameType.DeviceState:
                _target.RestoreDeviceState(raw);
                _deviceStateReceived = true;
                return false;
            case FrameType.End:
                var (frames, totalPages) = ControlMessages.ReadTotals(raw, FrameType.End);
                long applied;
                lock (Sync)
                    applied = _pagesApplied;
                if (frames != header.Sequence || totalPages != applied || !_deviceStateReceived || State != IncomingMigrationState.Receiving)
                {
                    throw new MigrationFailedException(MigrationFailureKind.Protocol,
                        $"End marker says {frames} frames and {totalPages} pages; received {header.Sequence} frames, {applied} pages, device state {(_deviceStateReceived ? "present" : "missing")}, state {State}.");
                }

                return true;
            default:
                throw new MigrationFailedException(MigrationFailureKind.Protocol, $"Unexpected {header.Type} frame from the source.");
        }
    }

    private static byte[] PrepareScratch(int length)
    {
        var scratch = FrameBuffers.Rent(length);
        scratch.AsSpan().Clear();
        return scratch;
    }

    private void ReleaseScratch()
    {
        var scratch = Interlocked.Exchange(ref _scratch, []);
        if (scratch.Length > 0)
            FrameBuffers.Return(scratch);
    }

    private void ApplyPages(in FrameHeader header, ReadOnlySpan<byte> raw)
    {
        var memory = _target.Memory;
        var batch = new PageBatchReader(raw, header.ItemCount, memory.PageCount);
        while (batch.MoveNext(out var index, out var body))
        {
            var page = memory.Page((int)index);
            if (body.IsEmpty)
            {
                // Reading an untouched calloc page maps the shared zero page; only clear what holds data.
                if (page.ContainsAnyExcept((byte)0))
                    page.Clear();
            }
            else
            {
                body.CopyTo(page);
            }
        }

        _pagesInRound += batch.Count;
        lock (Sync)
        {
            _pagesApplied += batch.Count;
            _zeroPagesApplied += batch.ZeroPages;
        }
    }

    private void ApplySessions(in FrameHeader header, ReadOnlySpan<byte> raw)
    {
        var table = _target.Sessions ?? throw new MigrationFailedException(MigrationFailureKind.Protocol, "Session delta for a VM without a session table.");
        if (raw.Length != header.ItemCount * (long)SessionDeltaCodec.RecordSize)
            throw new FrameFormatException($"Session delta of {raw.Length} bytes for {header.ItemCount} records.");
        for (var i = 0; i < header.ItemCount; i++)
            table.Apply(SessionDeltaCodec.Read(raw[(i * SessionDeltaCodec.RecordSize)..]));
        _sessionsInRound += (int)header.ItemCount;
        lock (Sync)
            _sessionEntriesApplied += header.ItemCount;
    }

    private void MarkReceived()
    {
        IncomingResult result;
        lock (Sync)
            result = new IncomingResult(_framesReceived, _bytesReceived, _pagesApplied, _zeroPagesApplied, _sessionEntriesApplied, _decompressionCpu.Seconds, _time.GetTimestamp());
        if (!MarkReceived(result, out var state))
            throw new MigrationFailedException(MigrationFailureKind.Protocol, $"End of stream while {state}.");
    }

    private async Task AcknowledgeAsync(CancellationToken cancellationToken)
    {
        var payload = new byte[16];
        long frames;
        long pages;
        lock (Sync)
        {
            frames = _framesReceived;
            pages = _pagesApplied;
        }

        var length = ControlMessages.WriteTotals(payload, frames, pages);
        try
        {
            await WriteControlAsync(FrameType.Ack, payload.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            // The acknowledgement is advisory: the orchestrator decides the commit from Received; a source that
            // misses it stays paused and waits for that decision.
        }
    }
}
