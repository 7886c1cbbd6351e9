namespace OrleansMigrate.Cli.Commands;

/// <summary>Every exit code of <c>omig</c>, in one place: commands return these, and <c>omig --help</c> prints this table.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Unexpected = 1;
    public const int InvalidInput = 2;
    public const int NotFound = 3;
    public const int Conflict = 4;
    public const int InsufficientCapacity = 5;
    public const int Incompatible = 6;
    public const int Unavailable = 7;
    public const int NotCompleted = 8;
    public const int PreflightNo = 9;
    public const int AlreadyEnded = 10;
    public const int NotInPreCopy = 11;
    public const int Cancelled = 130;

    /// <summary>The table <c>omig --help</c> prints, in code order.</summary>
    public static IReadOnlyList<(int Code, string Meaning)> All { get; } =
    [
        (Ok, "success"),
        (Unexpected, "unexpected error; or a check found a problem (audit finding, bench target missed, demo audit, QMP error reply)"),
        (InvalidInput, "invalid input (the message names the field); nothing changed"),
        (NotFound, "not found"),
        (Conflict, "conflict with the current state (e.g. the VM is already migrating)"),
        (InsufficientCapacity, "insufficient capacity"),
        (Incompatible, "incompatible (CPU, hardware generation, pass-through device)"),
        (Unavailable, "the cluster or a host's agent is unavailable"),
        (NotCompleted, "what --wait/watch followed did not complete (migration rolled back or failed; drain, plan or campaign incomplete)"),
        (PreflightNo, "vm migrate --dry-run: the preflight says no"),
        (AlreadyEnded, "migration cancel: the migration had already ended (completed, rolled back or failed) or passed its commit point; nothing cancelled"),
        (NotInPreCopy, "migration force-complete: the migration is not in pre-copy (queued, preparing, switching over, committed, ended or rolling back); nothing changed"),
        (Cancelled, "interrupted (Ctrl-C)"),
    ];

    /// <summary>The table as help text lines.</summary>
    public static IEnumerable<string> HelpLines()
    {
        yield return "Exit codes:";
        foreach (var (code, meaning) in All)
        {
            yield return $"  {code,3}  {meaning}";
        }
    }
}
