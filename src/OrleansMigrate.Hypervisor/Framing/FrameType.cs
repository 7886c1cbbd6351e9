namespace OrleansMigrate.Hypervisor.Framing;

/// <summary>Kinds of frames on the migration stream. Source → destination unless noted.</summary>
internal enum FrameType : byte
{
    /// <summary>Opens the stream: protocol version, VM id, page size and count, compression mode.</summary>
    Hello = 1,

    /// <summary>Destination → source: the stream is accepted or refused.</summary>
    HelloAck = 2,

    /// <summary>A batch of guest pages (bodies and zero markers).</summary>
    PageBatch = 3,

    /// <summary>Session-table records (upserts and deletions).</summary>
    SessionDelta = 4,

    /// <summary>Marks the end of an iterative round.</summary>
    RoundEnd = 5,

    /// <summary>The device-state blob (inside the downtime).</summary>
    DeviceState = 6,

    /// <summary>End of the final copy: the destination may resume once everything before it is applied.</summary>
    End = 7,

    /// <summary>Destination → source: everything up to <see cref="End"/> was received and applied.</summary>
    Ack = 8,

    /// <summary>Destination → source: the destination failed; the payload says why.</summary>
    Error = 9,

    /// <summary>Source → destination: the source rolled back; tear down.</summary>
    Abort = 10,
}
