namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>Bytes that are not a valid frame: bad magic or version, checksum mismatch, impossible length, undecodable payload.</summary>
internal sealed class FrameFormatException : Exception
{
    public FrameFormatException()
    {
    }

    public FrameFormatException(string message)
        : base(message)
    {
    }

    public FrameFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
