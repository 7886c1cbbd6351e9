namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>A command (or the greeting) got no reply within its timeout. The connection stays usable; a late reply is dropped.</summary>
public sealed class QmpTimeoutException : TimeoutException
{
    public QmpTimeoutException(string command, TimeSpan timeout)
        : base(QmpMessages.TimedOut(command, timeout))
    {
        Command = command;
        Timeout = timeout;
    }

    /// <summary>The command waited for; <c>(greeting)</c> when the server never greeted.</summary>
    public string Command { get; }

    public TimeSpan Timeout { get; }
}
