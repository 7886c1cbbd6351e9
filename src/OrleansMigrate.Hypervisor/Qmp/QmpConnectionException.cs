namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>The QMP connection failed or is gone; <see cref="Command"/> names the command that was waiting, if any.</summary>
public sealed class QmpConnectionException : Exception
{
    public QmpConnectionException(QmpConnectionFailure failure, string message, Exception? innerException = null, string? command = null)
        : base(message, innerException)
    {
        Failure = failure;
        Command = command;
    }

    public QmpConnectionFailure Failure { get; }

    /// <summary>The command that was sent or waiting for its reply when the connection failed; null for the connection-wide cause.</summary>
    public string? Command { get; }
}
