using System.Globalization;

namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>Every QMP error message, in one place, each naming what was sent and what was waited for.</summary>
internal static class QmpMessages
{
    /// <summary>Arguments longer than this are cut in messages; a blockdev spec can be kilobytes.</summary>
    private const int MaxArgumentsChars = 256;

    public static string CommandFailed(string command, string? argumentsJson, string errorClass, string description) =>
        $"QMP command '{command}'{Arguments(argumentsJson)} failed: {errorClass}: {description}";

    public static string TimedOut(string command, TimeSpan timeout) =>
        $"QMP command '{command}' got no reply within {timeout.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)} ms.";

    public static string ConnectFailed(string path, string why) => $"QMP connect to unix socket '{path}' failed: {why}";

    public static string ClosedBeforeGreeting() => "QMP peer closed the stream before sending its greeting.";

    public static string ExpectedGreeting(QmpFrameKind got) => $"QMP peer sent a {got} frame where the greeting was expected.";

    public static string UnexpectedGreeting() => "QMP peer sent a second greeting on an established connection.";

    public static string EndOfStream() => "QMP peer closed the stream.";

    public static string ReadFailed(string why) => $"QMP read failed: {why}";

    public static string WriteFailed(string command, string why) => $"QMP write of command '{command}' failed: {why}";

    public static string WriteCancelled(string command) =>
        $"QMP write of command '{command}' was cancelled part-way; the stream can no longer be framed, so the connection was closed.";

    public static string BadFrame(string why) => $"QMP peer sent an invalid frame: {why}";

    public static string EventSinkFailed(string why) => $"QMP event delivery failed: {why}";

    public static string Disposed() => "QMP client was disposed.";

    public static string ForCommand(string command, QmpConnectionException cause) =>
        $"QMP command '{command}' was sent or waiting for its reply when the connection ended ({cause.Failure}): {cause.Message}";

    private static string Arguments(string? json) => json switch
    {
        null => string.Empty,
        { Length: <= MaxArgumentsChars } => $" with arguments {json}",
        _ => $" with arguments {json[..MaxArgumentsChars]}…",
    };
}
