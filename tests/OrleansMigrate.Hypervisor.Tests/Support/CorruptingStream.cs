namespace OrleansMigrate.Hypervisor.Tests.Support;

/// <summary>Test seam for <c>TransportWrapper</c>: flips one bit of the byte at a given offset of everything written.</summary>
internal sealed class CorruptingStream(Stream inner, long flipAtOffset) : DelegatingStream(inner)
{
    private long _written;

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_written <= flipAtOffset && flipAtOffset < _written + buffer.Length)
        {
            var copy = buffer.ToArray();
            copy[flipAtOffset - _written] ^= 0x10;
            _written += buffer.Length;
            Inner.Write(copy);
            return;
        }

        _written += buffer.Length;
        Inner.Write(buffer);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_written <= flipAtOffset && flipAtOffset < _written + buffer.Length)
        {
            var copy = buffer.ToArray();
            copy[flipAtOffset - _written] ^= 0x10;
            _written += buffer.Length;
            await Inner.WriteAsync(copy, cancellationToken);
            return;
        }

        _written += buffer.Length;
        await Inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
}
