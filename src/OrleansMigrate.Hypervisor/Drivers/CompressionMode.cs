namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Which copies of guest memory are LZ4-compressed on the wire.</summary>
public enum CompressionMode
{
    /// <summary>Nothing is compressed.</summary>
    None,

    /// <summary>Every round, including the bulk copy, is compressed (upstream QEMU's multifd-compression style).</summary>
    All,

    /// <summary>
    /// Only the final copy (inside the downtime) is compressed; iterative rounds go raw so they cost
    /// little host CPU. The default, after the seed talk.
    /// </summary>
    Final,
}
