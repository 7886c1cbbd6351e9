using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>The stop-and-copy inside the downtime.</summary>
internal sealed partial class PreCopySource
{
    /// <summary>
    /// Sends the last dirty pages (LZ4 unless <see cref="CompressionMode.None"/>), the last session delta
    /// and the device state, then the end marker once the emulated link has carried every byte, and waits
    /// for the destination's acknowledgement.
    /// </summary>
    protected override async Task<FinalCopyResult> CopyFinalAsync(long requestedAt, CancellationToken cancellationToken)
    {
        var started = Math.Max(requestedAt, Time.GetTimestamp());
        var number = (uint)NextRound();
        var compress = Options.Compression != CompressionMode.None;
        var cpuBefore = _compressionCpu.Seconds;
        var bytesBefore = _writer.BytesWritten;
        long compressedBefore;
        lock (Sync)
            compressedBefore = _compressedWireBytes;

        var pageCount = _guest.DirtyPages.Harvest(_pageList);
        long zeroPages = 0;
        long rawBytes = 0;
        var position = 0;
        while (position < pageCount)
        {
            var frame = BuildPageFrame(number, ref position, pageCount, compress, out var zeros, out var raw, out _);
            zeroPages += zeros;
            rawBytes += raw;
            await _writer.EnqueueAsync(frame, cancellationToken).ConfigureAwait(false);
        }

        var (sessionEntries, sessionBytes, _) = await SendSessionDeltaAsync(number, compress, cancellationToken).ConfigureAwait(false);

        var deviceState = _guest.CaptureDeviceState();
        await _writer.EnqueueAsync(BuildControlFrame(FrameType.DeviceState, number, deviceState, written: null, compress), cancellationToken).ConfigureAwait(false);

        long totalPages;
        lock (Sync)
        {
            _pagesSent += pageCount;
            _zeroPagesSent += zeroPages;
            totalPages = _pagesSent;
        }

        var endPayload = new byte[16];
        // The end marker names how many frames precede it (hello included) so a lost frame cannot go unnoticed.
        var endLength = ControlMessages.WriteTotals(endPayload, _sequence, totalPages);
        var endWritten = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _writer.EnqueueAsync(BuildControlFrame(FrameType.End, number, endPayload.AsSpan(0, endLength), endWritten), cancellationToken).ConfigureAwait(false);
        var endAt = await endWritten.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        MarkEndWritten(unlessFailed: false);

        var acknowledgedAt = await _acknowledged.Task
            .WaitAsync(TimeSpan.FromMilliseconds(Options.AckTimeoutMs), Time, cancellationToken)
            .ConfigureAwait(false);

        long compressedBytes;
        lock (Sync)
            compressedBytes = _compressedWireBytes - compressedBefore;
        var pagesAt = pageCount > 0 ? _writer.LastWritten(FrameType.PageBatch) : started;
        var sessionsAt = sessionEntries > 0 ? _writer.LastWritten(FrameType.SessionDelta) : pagesAt;
        return new FinalCopyResult(
            pageCount,
            zeroPages,
            rawBytes,
            _writer.BytesWritten - bytesBefore,
            compressedBytes,
            deviceState.Length,
            sessionEntries,
            sessionBytes,
            _compressionCpu.Seconds - cpuBefore,
            started,
            Math.Max(pagesAt, started),
            Math.Max(sessionsAt, started),
            Math.Max(_writer.LastWritten(FrameType.DeviceState), started),
            endAt,
            acknowledgedAt);
    }
}
