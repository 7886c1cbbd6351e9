namespace OrleansMigrate.Api.FleetEvents;

/// <summary>One server-sent event of the fleet stream: its sequence number in this API process, the SSE event name and
/// the JSON data (for <c>status</c>, a migration's whole status, as <c>GET /v1/migrations/{id}/events</c> sends it).</summary>
public sealed record FleetEvent(long Seq, string Name, string Json, string? MigrationId);

/// <summary>What the gatherer has done, for tests and diagnostics: its grain calls do not depend on the number of clients.</summary>
/// <param name="Polls">Passes over the cluster so far.</param>
/// <param name="GrainCalls">Calls into the cluster so far (one list per pass, one read per migration that left the list).</param>
/// <param name="Clients">Clients connected now.</param>
/// <param name="Tracked">Migrations the gatherer follows now (in flight at its last pass).</param>
/// <param name="LastSeq">The newest event's sequence number.</param>
/// <param name="Dropped">Clients dropped so far for not keeping up.</param>
public sealed record FleetEventStats(long Polls, long GrainCalls, int Clients, int Tracked, long LastSeq, long Dropped);
