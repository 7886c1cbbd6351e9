namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>A migration failed; <see cref="Kind"/> says why. Unless <see cref="Kind"/> is <see cref="MigrationFailureKind.Indeterminate"/> the VM runs on the source.</summary>
public sealed class MigrationFailedException : Exception
{
    public MigrationFailedException()
    {
    }

    public MigrationFailedException(string message)
        : base(message)
    {
    }

    public MigrationFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public MigrationFailedException(MigrationFailureKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    public MigrationFailureKind Kind { get; }
}
