using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>
/// Incremental QMP framing over bytes, no I/O: UTF-8 JSON objects, one per line, separated by LF or CRLF.
/// JSON strings cannot hold a raw newline, so a newline always ends a frame (QEMU's non-pretty output).
/// </summary>
/// <remarks>
/// Feed bytes with <see cref="Append"/>, then call <see cref="TryReadFrame"/> until it returns false; the buffer
/// then holds at most one partial frame, so memory stays bounded by <see cref="MaxFrameBytes"/> plus one read.
/// A malformed line is consumed before its <see cref="QmpFramingException"/> is thrown, so framing can go on;
/// an oversize frame faults the framer for good, because its end cannot be found without buffering it.
/// Not thread-safe: one reader owns it.
/// </remarks>
public sealed class QmpFramer
{
    /// <summary>16 MiB: far above any real QMP reply (<c>query-migrate</c> is a few KiB).</summary>
    public const int DefaultMaxFrameBytes = 16 * 1024 * 1024;

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        MaxDepth = 64,
        AllowDuplicateProperties = false,
    };

    private byte[] _buffer = new byte[4096];
    private int _start;
    private int _end;
    private int _scanned;
    private bool _faulted;

    /// <param name="maxFrameBytes">Largest frame accepted, in bytes, excluding the line terminator; 2..1 GiB.</param>
    public QmpFramer(int maxFrameBytes = DefaultMaxFrameBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrameBytes, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxFrameBytes, 1 << 30);
        MaxFrameBytes = maxFrameBytes;
    }

    /// <summary>Largest frame accepted, in bytes, excluding the line terminator.</summary>
    public int MaxFrameBytes { get; }

    /// <summary>Bytes appended but not yet returned as frames.</summary>
    public int BufferedBytes => _end - _start;

    public void Append(ReadOnlySpan<byte> data)
    {
        ThrowIfFaulted();
        if (data.IsEmpty)
            return;
        EnsureFree(data.Length);
        data.CopyTo(_buffer.AsSpan(_end));
        _end += data.Length;
    }

    /// <summary>Returns the next complete frame, or false when only a partial frame (or nothing) is buffered.</summary>
    /// <exception cref="QmpFramingException">The next line is not a QMP frame, or is too large.</exception>
    public bool TryReadFrame([NotNullWhen(true)] out QmpFrame? frame)
    {
        ThrowIfFaulted();
        while (true)
        {
            var newline = _buffer.AsSpan(_scanned, _end - _scanned).IndexOf((byte)'\n');
            if (newline < 0)
            {
                _scanned = _end;
                var partial = _end - _start;
                var awaitingLf = partial == MaxFrameBytes + 1 && _buffer[_end - 1] == (byte)'\r';
                if (partial > MaxFrameBytes && !awaitingLf)
                    throw TooLarge(partial);
                if (partial == 0)
                    _start = _end = _scanned = 0;
                frame = null;
                return false;
            }

            var lineEnd = _scanned + newline;
            var line = _buffer.AsSpan(_start, lineEnd - _start);
            _start = _scanned = lineEnd + 1;
            if (!line.IsEmpty && line[^1] == (byte)'\r')
                line = line[..^1];
            if (line.Length > MaxFrameBytes)
                throw TooLarge(line.Length);
            if (line.TrimStart(" \t\r"u8).IsEmpty)
                continue;

            frame = Parse(line);
            return true;
        }
    }

    /// <summary>Parses and classifies one frame (without its line terminator).</summary>
    /// <exception cref="QmpFramingException">Not a QMP frame.</exception>
    public static QmpFrame Parse(ReadOnlySpan<byte> utf8Json)
    {
        // The JSON reader checks UTF-8 only when a string is materialized, which would surface later as a shape error.
        if (!System.Text.Unicode.Utf8.IsValid(utf8Json))
            throw new QmpFramingException(QmpFramingError.MalformedJson, $"QMP frame of {utf8Json.Length} bytes is not valid UTF-8.");

        JsonNode? node;
        try
        {
            node = JsonNode.Parse(utf8Json, nodeOptions: null, documentOptions: DocumentOptions);
        }
        catch (JsonException ex)
        {
            throw new QmpFramingException(QmpFramingError.MalformedJson, $"QMP frame of {utf8Json.Length} bytes is not valid JSON: {ex.Message}", ex);
        }

        if (node is not JsonObject obj)
            throw new QmpFramingException(QmpFramingError.NotAnObject, $"QMP frame is JSON {Describe(node)}, not an object.");

        try
        {
            return Classify(obj);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException)
        {
            // JsonNode surfaces shape surprises this way; they are bad input, not bugs here.
            throw new QmpFramingException(QmpFramingError.UnrecognizedMessage, $"QMP frame has an unexpected shape: {ex.Message}", ex);
        }
    }

    /// <summary>Encodes <c>{"execute":command,"arguments":...,"id":id}</c> followed by CRLF.</summary>
    public static byte[] EncodeCommand(string command, JsonObject? arguments = null, string? id = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        var output = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteString("execute", command);
            if (arguments is not null)
            {
                writer.WritePropertyName("arguments");
                arguments.WriteTo(writer);
            }

            if (id is not null)
                writer.WriteString("id", id);
            writer.WriteEndObject();
        }

        output.Write("\r\n"u8);
        return output.WrittenSpan.ToArray();
    }

    private static QmpFrame Classify(JsonObject obj)
    {
        if (obj.TryGetPropertyValue("QMP", out var qmp))
        {
            if (qmp is not JsonObject greeting)
                throw Unrecognized("its \"QMP\" member is not an object");
            obj.Remove("QMP");
            return new QmpFrame(QmpFrameKind.Greeting) { Greeting = greeting };
        }

        if (obj.TryGetPropertyValue("error", out var error))
        {
            if (error is not JsonObject details || !TryGetString(details, "class", out var errorClass) || !TryGetString(details, "desc", out var desc))
                throw Unrecognized("its \"error\" member lacks string \"class\" and \"desc\"");
            return new QmpFrame(QmpFrameKind.Error) { Id = ReadId(obj), ErrorClass = errorClass, ErrorDescription = desc };
        }

        if (obj.TryGetPropertyValue("return", out var result))
        {
            obj.Remove("return");
            return new QmpFrame(QmpFrameKind.Return) { Id = ReadId(obj), Return = result };
        }

        if (obj.ContainsKey("event"))
        {
            if (!TryGetString(obj, "event", out var name))
                throw Unrecognized("its \"event\" member is not a string");
            JsonObject? data = null;
            if (obj.TryGetPropertyValue("data", out var dataNode) && dataNode is not null)
            {
                data = dataNode as JsonObject ?? throw Unrecognized("its \"data\" member is not an object");
                obj.Remove("data");
            }

            return new QmpFrame(QmpFrameKind.Event) { EventName = name, EventData = data, EventTimestamp = ReadTimestamp(obj["timestamp"]) };
        }

        throw Unrecognized("it is none of greeting, return, error or event");
    }

    private static string? ReadId(JsonObject obj) => obj["id"] switch
    {
        null => null,
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        var other => other.ToJsonString(),
    };

    private static DateTimeOffset? ReadTimestamp(JsonNode? node)
    {
        // Seconds range: the Unix epoch to 9999-12-31, what DateTimeOffset can hold.
        if (node is not JsonObject timestamp
            || timestamp["seconds"] is not JsonValue secondsValue || !secondsValue.TryGetValue<long>(out var seconds)
            || timestamp["microseconds"] is not JsonValue microsValue || !microsValue.TryGetValue<long>(out var micros)
            || seconds is < 0 or > 253_402_300_798 || micros is < 0 or > 999_999)
        {
            return null;
        }

        return DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(micros * TimeSpan.TicksPerMicrosecond);
    }

    private static bool TryGetString(JsonObject obj, string name, [NotNullWhen(true)] out string? value)
    {
        value = null;
        return obj[name] is JsonValue node && node.TryGetValue(out value);
    }

    private static string Describe(JsonNode? node) => node is null ? "null" : node.GetValueKind().ToString().ToLowerInvariant();

    private static QmpFramingException Unrecognized(string why) =>
        new(QmpFramingError.UnrecognizedMessage, $"QMP frame is not a QMP message: {why}.");

    private QmpFramingException TooLarge(int length)
    {
        _faulted = true;
        return new QmpFramingException(QmpFramingError.FrameTooLarge, $"QMP frame of at least {length} bytes exceeds the {MaxFrameBytes}-byte limit.");
    }

    private void ThrowIfFaulted()
    {
        if (_faulted)
            throw new QmpFramingException(QmpFramingError.FrameTooLarge, $"QMP framer is faulted after a frame exceeded the {MaxFrameBytes}-byte limit.");
    }

    private void EnsureFree(int count)
    {
        if (_buffer.Length - _end >= count)
            return;
        var live = _end - _start;
        if (_start > 0)
        {
            _buffer.AsSpan(_start, live).CopyTo(_buffer);
            _scanned -= _start;
            _start = 0;
            _end = live;
        }

        if (_buffer.Length - _end >= count)
            return;
        var grown = new byte[(int)Math.Min(Array.MaxLength, Math.Max((long)_buffer.Length * 2, (long)live + count))];
        _buffer.AsSpan(0, live).CopyTo(grown);
        _buffer = grown;
    }
}
