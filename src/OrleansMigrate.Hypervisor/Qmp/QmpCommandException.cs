namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>The server answered a command with <c>{"error":{"class":..., "desc":...}}</c>. The connection stays usable.</summary>
public sealed class QmpCommandException : Exception
{
    public QmpCommandException(string command, string? argumentsJson, string errorClass, string description)
        : base(QmpMessages.CommandFailed(command, argumentsJson, errorClass, description))
    {
        Command = command;
        ArgumentsJson = argumentsJson;
        ErrorClass = errorClass;
        Description = description;
    }

    public string Command { get; }

    /// <summary>The <c>arguments</c> sent, as JSON; null when none were.</summary>
    public string? ArgumentsJson { get; }

    /// <summary>QMP's error <c>class</c>, e.g. <c>GenericError</c>, <c>CommandNotFound</c>.</summary>
    public string ErrorClass { get; }

    /// <summary>QMP's <c>desc</c>.</summary>
    public string Description { get; }
}
