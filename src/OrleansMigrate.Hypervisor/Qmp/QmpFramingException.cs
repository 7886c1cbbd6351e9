namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>Bytes that are not a QMP frame. The only exception <see cref="QmpFramer"/> throws for bad input.</summary>
public sealed class QmpFramingException : Exception
{
    public QmpFramingException(QmpFramingError error, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Error = error;
    }

    public QmpFramingError Error { get; }
}
