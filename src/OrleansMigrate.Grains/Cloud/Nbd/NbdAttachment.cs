namespace OrleansMigrate.Grains.Cloud.Nbd;

/// <summary>Where a host's QEMU attaches a cloud disk served over NBD: the server and the export of that host's
/// handle. Every holder has its own export (<c>DISK@HOST#gN</c>), so the store can cut one holder off (fencing)
/// without touching the others.</summary>
/// <param name="Host">NBD server address as the host reaches it.</param>
/// <param name="Port">NBD server TCP port.</param>
/// <param name="ExportName">The holder's export name.</param>
/// <param name="Generation">The fencing generation the export was made for: the disk's next generation for a prepared
/// (read-only) destination, the granted one for a writer.</param>
public sealed record NbdAttachment(string Host, int Port, string ExportName, long Generation);
