namespace OrleansMigrate.Migration;

/// <summary>
/// A migration that cannot go on because a host's agent does not answer: which host, since when, and until when it waits
/// before it gives up (<c>Omig:AgentWaitTimeoutSeconds</c>). Before the commit point an unreachable agent rolls the
/// migration back at once and the rollback waits; when the deadline passes the migration ends <c>failed</c> with what the
/// operator must do. After the commit point the migration only rolls forward, so it waits without a deadline.
/// </summary>
/// <param name="HostId">The host whose agent the migration waits for.</param>
/// <param name="Role"><c>source</c> or <c>destination</c>.</param>
/// <param name="Step">What the migration needs that agent for, e.g. <c>read the source VM's state (rollback)</c>.</param>
/// <param name="Since">When the agent was first found unreachable.</param>
/// <param name="Deadline">When the migration gives up and ends failed; null after the commit point (it waits until the agent answers).</param>
/// <param name="Reason">Why the agent is unreachable and what to do, in our words (see <see cref="Errors.AgentErrors"/>).</param>
/// <param name="Tries">Calls to the agent that failed so far.</param>
/// <param name="LastTriedAt">The last of them.</param>
/// <param name="Silo">The silo that served the host when the wait began (name and address), when the cluster still knew it.</param>
[GenerateSerializer, Immutable]
[Alias("omig.AgentWait")]
public sealed record AgentWait(
    [property: Id(0)] string HostId,
    [property: Id(1)] string Role,
    [property: Id(2)] string Step,
    [property: Id(3)] DateTimeOffset Since,
    [property: Id(4)] DateTimeOffset? Deadline,
    [property: Id(5)] string Reason,
    [property: Id(6)] int Tries,
    [property: Id(7)] DateTimeOffset LastTriedAt,
    [property: Id(8)] string? Silo = null);
