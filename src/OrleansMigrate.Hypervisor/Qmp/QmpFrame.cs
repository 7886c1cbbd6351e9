using System.Text.Json.Nodes;

namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>
/// One decoded server frame. Nodes are detached from the parsed document, so callers may
/// re-parent them (add them to another <see cref="JsonObject"/>) freely.
/// </summary>
public sealed class QmpFrame
{
    internal QmpFrame(QmpFrameKind kind)
    {
        Kind = kind;
    }

    public QmpFrameKind Kind { get; }

    /// <summary>The echoed <c>id</c> of a return or error: the string itself, or the raw JSON of a non-string id; null when absent.</summary>
    public string? Id { get; internal init; }

    /// <summary>The <c>QMP</c> object of a greeting.</summary>
    public JsonObject? Greeting { get; internal init; }

    /// <summary>The <c>return</c> value of a return frame (QEMU sends <c>{}</c> for commands without a result).</summary>
    public JsonNode? Return { get; internal init; }

    /// <summary>QMP's error <c>class</c>, e.g. <c>GenericError</c>, <c>CommandNotFound</c>, <c>DeviceNotFound</c>.</summary>
    public string? ErrorClass { get; internal init; }

    /// <summary>QMP's human-readable error <c>desc</c>.</summary>
    public string? ErrorDescription { get; internal init; }

    public string? EventName { get; internal init; }

    public JsonObject? EventData { get; internal init; }

    /// <summary>The event's host wall-clock time (seconds + microseconds since the Unix epoch); null when absent or out of range (QEMU sends -1 when its clock failed).</summary>
    public DateTimeOffset? EventTimestamp { get; internal init; }
}
