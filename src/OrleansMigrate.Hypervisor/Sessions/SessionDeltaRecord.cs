namespace OrleansMigrate.Hypervisor.Sessions;

/// <summary>One change of a session table: an upsert of <paramref name="Entry"/> or, when <paramref name="Deleted"/>, a removal.</summary>
internal readonly record struct SessionDeltaRecord(FlowKey Key, bool Deleted, SessionEntry Entry);
