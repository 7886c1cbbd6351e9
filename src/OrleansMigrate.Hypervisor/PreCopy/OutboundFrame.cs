using OrleansMigrate.Hypervisor.Framing;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>A sealed frame queued for the wire. The writer returns <see cref="Buffer"/> to <see cref="FrameBuffers"/> after writing.</summary>
/// <param name="Buffer">Pooled buffer holding the frame at offset 0.</param>
/// <param name="Length">Frame length (header and payload).</param>
/// <param name="Type">Frame type, for per-type timestamps.</param>
/// <param name="ExactPacing">Wait until the emulated link carried every earlier byte before writing.</param>
/// <param name="Written">Completed, once the frame is written, with the timestamp at which it was handed to the socket.</param>
internal readonly record struct OutboundFrame(byte[] Buffer, int Length, FrameType Type, bool ExactPacing, TaskCompletionSource<long>? Written);
