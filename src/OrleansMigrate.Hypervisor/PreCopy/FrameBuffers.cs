using System.Buffers;

namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>
/// Pooled frame buffers shared by every migration in the process. A private pool, because frames (up to a
/// few MiB) exceed what <see cref="ArrayPool{T}.Shared"/> is tuned for, and the engine rents one per frame.
/// </summary>
internal static class FrameBuffers
{
    private static readonly ArrayPool<byte> Pool = ArrayPool<byte>.Create(maxArrayLength: 32 << 20, maxArraysPerBucket: 64);

    public static byte[] Rent(int minimumLength) => Pool.Rent(minimumLength);

    public static void Return(byte[] buffer) => Pool.Return(buffer);
}
