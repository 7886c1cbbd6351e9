using System.Buffers.Binary;

namespace OrleansMigrate.Hypervisor.Linux.Guest;

/// <summary>The 24 bytes the lab guest's agent appends to every UDP echo reply (all big-endian).</summary>
/// <param name="DurableSeq">The last disk record whose write and flush returned OK; null when none (all ones on the wire).</param>
/// <param name="BootId">The agent run (random per start): a change means the guest agent restarted.</param>
/// <param name="GuestNanoseconds">The guest's monotonic clock when it replied.</param>
public readonly record struct GuestTrailer(ulong? DurableSeq, ulong BootId, ulong GuestNanoseconds)
{
    /// <summary>Bytes of the trailer.</summary>
    public const int Size = 24;

    /// <summary>Reads the trailer at the end of a reply; false when the reply is shorter than a trailer.</summary>
    public static bool TryRead(ReadOnlySpan<byte> reply, out GuestTrailer trailer)
    {
        if (reply.Length < Size)
        {
            trailer = default;
            return false;
        }

        var t = reply[^Size..];
        var durable = BinaryPrimitives.ReadUInt64BigEndian(t);
        trailer = new GuestTrailer(durable == ulong.MaxValue ? null : durable, BinaryPrimitives.ReadUInt64BigEndian(t[8..]), BinaryPrimitives.ReadUInt64BigEndian(t[16..]));
        return true;
    }
}
