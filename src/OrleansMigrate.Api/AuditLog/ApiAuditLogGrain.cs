using System.Collections.Immutable;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Api.AuditLog;

/// <summary>Keeps the newest <see cref="Limit"/> entries; the whole list is written on each append, so it stays bounded.</summary>
[ControlPlanePlacement]
public sealed class ApiAuditLogGrain(
    [PersistentState("api-audit-log", StorageNames.Fleet)] IPersistentState<ApiAuditLogState> state) : Grain, IApiAuditLogGrain
{
    public const int Limit = 2_000;

    public async Task AppendAsync(ApiAuditEntry entry)
    {
        var s = state.State;
        s.LastSequence++;
        s.Entries = s.Entries.Add(entry with { Sequence = s.LastSequence });
        if (s.Entries.Count > Limit)
        {
            s.Entries = s.Entries.RemoveRange(0, s.Entries.Count - Limit);
        }

        await state.WriteStateAsync();
    }

    public Task<ImmutableArray<ApiAuditEntry>> ListAsync() => Task.FromResult(state.State.Entries.ToImmutableArray());
}

[GenerateSerializer]
[Alias("omig.api.ApiAuditLogState")]
public sealed class ApiAuditLogState
{
    [Id(0)] public long LastSequence { get; set; }

    [Id(1)] public ImmutableList<ApiAuditEntry> Entries { get; set; } = [];
}
