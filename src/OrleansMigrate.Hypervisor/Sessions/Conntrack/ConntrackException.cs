namespace OrleansMigrate.Hypervisor.Sessions.Conntrack;

/// <summary>A ctnetlink operation failed as a whole (the socket could not be opened, a send or receive failed, the
/// kernel did not answer in time). <see cref="Errno"/> is the system error number, 0 when there is none.</summary>
public sealed class ConntrackException(string message, int errno, Exception? inner = null) : Exception(message, inner)
{
    public int Errno { get; } = errno;
}

/// <summary>One entry a batch could not write or delete: its position in the batch, the entry, and the kernel's error.</summary>
/// <param name="Index">Position in the list given to the batch.</param>
/// <param name="Original">The entry's original tuple.</param>
/// <param name="Errno">The positive errno the kernel answered (2 ENOENT, 17 EEXIST, 22 EINVAL, 16 EBUSY …).</param>
/// <param name="Message">The errno's text.</param>
public sealed record ConntrackEntryFailure(int Index, ConntrackTuple Original, int Errno, string Message)
{
    public const int NotFound = 2;
    public const int Exists = 17;

    public override string ToString() => $"#{Index} {Original}: errno {Errno} ({Message})";
}

/// <summary>What a batched write or delete did: entries acknowledged, and each failure with its errno.</summary>
public sealed record ConntrackBatchResult(int Requested, int Succeeded, IReadOnlyList<ConntrackEntryFailure> Failures)
{
    public bool AllSucceeded => Failures.Count == 0 && Succeeded == Requested;

    /// <summary>Throws <see cref="ConntrackException"/> listing up to ten failures unless every entry succeeded.</summary>
    public void ThrowIfFailed(string what)
    {
        if (AllSucceeded)
            return;
        var shown = string.Join("; ", Failures.Take(10));
        throw new ConntrackException($"{what}: {Failures.Count} of {Requested} entries failed: {shown}{(Failures.Count > 10 ? " …" : "")}",
            Failures.Count > 0 ? Failures[0].Errno : 0);
    }
}
