namespace OrleansMigrate.Fleet;

/// <summary>
/// Where one host's hypervisor attaches a cloud disk over the network: the block store's server and the export of that
/// host's own handle. A store that fences by export (<c>nbd</c>) gives every holder its own export, so a migration's
/// destination attaches a different export than its source.
/// </summary>
/// <param name="Protocol">The wire protocol; <c>nbd</c> today.</param>
/// <param name="Host">The server's address as the host reaches it.</param>
/// <param name="Port">The server's TCP port.</param>
/// <param name="ExportName">The export of this host's handle.</param>
/// <param name="Generation">The fencing generation the export was made for.</param>
[GenerateSerializer, Immutable]
[Alias("omig.BlockDeviceAttachment")]
public sealed record BlockDeviceAttachment(
    [property: Id(0)] string Protocol,
    [property: Id(1)] string Host,
    [property: Id(2)] int Port,
    [property: Id(3)] string ExportName,
    [property: Id(4)] long Generation);
