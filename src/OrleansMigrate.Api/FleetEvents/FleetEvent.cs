namespace OrleansMigrate.Api.FleetEvents;

/// <summary>One server-sent event of the fleet stream: its sequence number in this API process, the SSE event name, the
/// JSON data (for <c>status</c>, a migration's whole status, as <c>GET /v1/migrations/{id}/events</c> sends it; for
/// <c>drain</c>, the drain as <c>GET /v1/hosts/{id}/drain</c>; for <c>campaign</c>, its summary) and what it is about
/// (<c>migration/ID</c>, <c>drain/HOST</c>, <c>campaign/ID</c>; null for a <c>reset</c>).</summary>
public sealed record FleetEvent(long Seq, string Name, string Json, string? Subject);

/// <summary>What the gatherer has done, for tests and diagnostics: its grain calls do not depend on the number of clients.</summary>
/// <param name="Polls">Passes over the cluster so far.</param>
/// <param name="GrainCalls">Calls into the cluster so far: per pass, the list of migrations in flight and the list of
/// running drains and campaigns, one read per running drain or campaign, one per migration or operation that left its list.</param>
/// <param name="Clients">Clients connected now.</param>
/// <param name="Tracked">Migrations, drains and campaigns the gatherer follows now (running at its last pass).</param>
/// <param name="LastSeq">The newest event's sequence number.</param>
/// <param name="Dropped">Clients dropped so far for not keeping up.</param>
public sealed record FleetEventStats(long Polls, long GrainCalls, int Clients, int Tracked, long LastSeq, long Dropped);
