using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>A received frame on its way from the receive loop to the apply worker; <see cref="Buffer"/> is pooled.</summary>
internal readonly record struct InboundFrame(FrameHeader Header, byte[] Buffer);
