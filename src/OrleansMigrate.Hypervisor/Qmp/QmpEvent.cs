using System.Text.Json.Nodes;

namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>An asynchronous QMP event, e.g. <c>MIGRATION</c>, <c>STOP</c>, <c>SHUTDOWN</c>.</summary>
/// <param name="Timestamp">Host wall-clock time QEMU stamped on the event; null when QEMU could not read its clock.</param>
public sealed record QmpEvent(string Name, JsonObject? Data, DateTimeOffset? Timestamp);
