using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.Tests.Framing;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class FrameCodecTests
{
    private static byte[] Compressible(int length)
    {
        var payload = new byte[length];
        for (var i = 0; i < payload.Length; i++)
            payload[i] = (byte)(i % 61 < 50 ? i % 7 : i * 31);
        return payload;
    }

    private static byte[] Encode(FrameType type, byte[] payload, bool compress, uint sequence = 7)
    {
        var buffer = new byte[FrameEncoder.MaxFrameLength(payload.Length)];
        var length = FrameEncoder.Encode(buffer, type, sequence, round: 3, itemCount: 11, payload, compress);
        return buffer[..length];
    }

    [Fact]
    public void RawFrameRoundTripsWithEveryHeaderField()
    {
        var payload = new byte[] { 1, 2, 3, 4, 5, 250 };
        var frame = Encode(FrameType.SessionDelta, payload, compress: false);

        Assert.True(FrameDecoder.TryDecode(frame, new byte[64], out var header, out var decoded, out var consumed));

        Assert.Equal(frame.Length, consumed);
        Assert.Equal(FrameType.SessionDelta, header.Type);
        Assert.Equal(7u, header.Sequence);
        Assert.Equal(3u, header.Round);
        Assert.Equal(11u, header.ItemCount);
        Assert.False(header.IsCompressed);
        Assert.Equal(payload, decoded.ToArray());
    }

    [Fact]
    public void CompressiblePayloadGoesLz4AndDecodesToTheSameBytes()
    {
        var payload = Compressible(64 << 10);
        var frame = Encode(FrameType.PageBatch, payload, compress: true);

        Assert.True(FrameDecoder.TryDecode(frame, new byte[payload.Length], out var header, out var decoded, out _));

        Assert.True(header.IsCompressed);
        Assert.True(frame.Length < payload.Length / 2);
        Assert.Equal(payload, decoded.ToArray());
    }

    [Fact]
    public void IncompressiblePayloadFallsBackToARawFrame()
    {
        var payload = new byte[16 << 10];
        new Random(5).NextBytes(payload);
        var frame = Encode(FrameType.PageBatch, payload, compress: true);

        Assert.True(FrameDecoder.TryDecode(frame, new byte[payload.Length], out var header, out var decoded, out _));

        Assert.False(header.IsCompressed);
        Assert.Equal(payload, decoded.ToArray());
    }

    [Fact]
    public void ConsecutiveFramesDecodeOneAfterAnother()
    {
        var first = Encode(FrameType.RoundEnd, [1, 2, 3], compress: false, sequence: 1);
        var second = Encode(FrameType.PageBatch, Compressible(8192), compress: true, sequence: 2);
        var stream = first.Concat(second).ToArray();
        var scratch = new byte[8192];

        Assert.True(FrameDecoder.TryDecode(stream, scratch, out var a, out _, out var used));
        Assert.True(FrameDecoder.TryDecode(stream.AsSpan(used), scratch, out var b, out _, out var usedSecond));

        Assert.Equal((1u, 2u), (a.Sequence, b.Sequence));
        Assert.Equal(stream.Length, used + usedSecond);
    }

    [Fact]
    public void EveryTruncationIsReportedIncompleteWithoutThrowing()
    {
        var frame = Encode(FrameType.PageBatch, Compressible(4096), compress: true);
        var scratch = new byte[4096];

        for (var length = 0; length < frame.Length; length++)
            Assert.False(FrameDecoder.TryDecode(frame.AsSpan(0, length), scratch, out _, out _, out _));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EverySingleBitFlipIsRejectedAsAFormatError(bool compress)
    {
        var frame = Encode(FrameType.PageBatch, Compressible(2048), compress);
        var scratch = new byte[2048];

        for (var i = 0; i < frame.Length; i++)
        {
            var damaged = frame.ToArray();
            damaged[i] ^= 0x04;
            Assert.Throws<FrameFormatException>(() => FrameDecoder.TryDecode(damaged, scratch, out _, out _, out _));
        }
    }

    [Fact]
    public void RandomAndMutatedBytesAreRejectedCleanly()
    {
        var random = new Random(20240611);
        var valid = Encode(FrameType.PageBatch, Compressible(4096), compress: true);
        var scratch = new byte[1 << 20];
        for (var trial = 0; trial < 3000; trial++)
        {
            byte[] input;
            if (trial % 2 == 0)
            {
                input = new byte[random.Next(0, 512)];
                random.NextBytes(input);
            }
            else
            {
                // A valid frame with a few random bytes overwritten and a random cut.
                input = valid[..random.Next(FrameHeader.Size, valid.Length + 1)];
                for (var k = random.Next(1, 4); k > 0; k--)
                    input[random.Next(input.Length)] = (byte)random.Next(256);
            }

            try
            {
                FrameDecoder.TryDecode(input, scratch, out _, out _, out _);
            }
            catch (FrameFormatException)
            {
                // Rejected: the expected outcome for damaged bytes.
            }
        }
    }

    [Fact]
    public void HeaderClaimingAnOversizedPayloadIsRejectedBeforeReadingIt()
    {
        var frame = Encode(FrameType.PageBatch, [1, 2, 3], compress: false);
        var header = FrameDecoder.ReadHeader(frame) with { PayloadLength = FrameHeader.MaxPayloadBytes + 1, RawLength = FrameHeader.MaxPayloadBytes + 1 };
        var forged = new byte[FrameHeader.Size];
        FrameEncoder.WriteHeader(forged, header);

        Assert.Throws<FrameFormatException>(() => FrameDecoder.ReadHeader(forged));
    }

    [Fact]
    public void ControlMessagesRoundTrip()
    {
        var buffer = new byte[ControlMessages.MaxPayloadBytes];
        var hello = new HelloMessage(1, "vm-é", 4096, 262_144, CompressionMode.All);
        var length = ControlMessages.WriteHello(buffer, hello);
        Assert.Equal(hello, ControlMessages.ReadHello(buffer.AsSpan(0, length)));

        length = ControlMessages.WriteError(buffer, MigrationFailureKind.Corruption, "bad frame");
        Assert.Equal((MigrationFailureKind.Corruption, "bad frame"), ControlMessages.ReadError(buffer.AsSpan(0, length)));

        length = ControlMessages.WriteTotals(buffer, 12, 34);
        Assert.Equal((12L, 34L), ControlMessages.ReadTotals(buffer.AsSpan(0, length), FrameType.End));
    }
}
