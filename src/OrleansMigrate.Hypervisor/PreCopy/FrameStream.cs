using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>Small helpers to move whole frames over a stream (control frames and the handshake).</summary>
internal static class FrameStream
{
    /// <summary>
    /// Reads one frame into <paramref name="header"/> and <paramref name="payload"/> and returns its decoded
    /// payload length. Throws <see cref="EndOfStreamException"/> at a clean end of stream before a header,
    /// <see cref="FrameFormatException"/> on bad bytes or a payload larger than <paramref name="payload"/>.
    /// Control frames are never compressed, so the payload is verified in place.
    /// </summary>
    public static async ValueTask<FrameHeader> ReadControlFrameAsync(Stream stream, byte[] header, byte[] payload, CancellationToken cancellationToken)
    {
        await stream.ReadExactlyAsync(header.AsMemory(0, FrameHeader.Size), cancellationToken).ConfigureAwait(false);
        var frame = FrameDecoder.ReadHeader(header);
        if (frame.IsCompressed || frame.PayloadLength > payload.Length)
            throw new FrameFormatException($"{frame.Type} control frame of {frame.PayloadLength} bytes is not acceptable here.");
        await stream.ReadExactlyAsync(payload.AsMemory(0, frame.PayloadLength), cancellationToken).ConfigureAwait(false);
        FrameDecoder.DecodePayload(frame, payload.AsSpan(0, frame.PayloadLength), []);
        return frame;
    }

    /// <summary>Encodes and writes a small control frame directly (outside any <see cref="FrameWriter"/>).</summary>
    public static async ValueTask WriteControlFrameAsync(Stream stream, FrameType type, uint sequence, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var buffer = FrameBuffers.Rent(FrameHeader.Size + payload.Length);
        try
        {
            var length = FrameEncoder.Encode(buffer, type, sequence, round: 0, itemCount: 0, payload.Span);
            await stream.WriteAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            FrameBuffers.Return(buffer);
        }
    }
}
