using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>The first frame of a stream: what the source is about to send.</summary>
internal sealed record HelloMessage(int ProtocolVersion, string VmId, int PageSize, long PageCount, CompressionMode Compression)
{
    public const int CurrentProtocolVersion = 1;
}
