namespace OrleansMigrate.Grains.Hosting;

/// <summary>Turns a library's <see cref="ArgumentException"/> into a reason for an error that names its field itself.</summary>
internal static class ArgumentMessages
{
    /// <summary>The message without .NET's " (Parameter 'x')" suffix.</summary>
    public static string Reason(ArgumentException ex) =>
        ex.ParamName is { } name ? ex.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal) : ex.Message;
}
