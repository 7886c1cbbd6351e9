using System.Collections.Immutable;

namespace OrleansMigrate.Api.AuditLog;

/// <summary>The API's record of every mutating request (one grain, key <see cref="Key"/>): who, what, when, and the answer's
/// status. Kept in grain storage so every API process writes to, and GET /v1/audit-log reads, the same log.</summary>
[Alias("omig.api.IApiAuditLogGrain")]
public interface IApiAuditLogGrain : IGrainWithStringKey
{
    public const string Key = "api";

    [Alias("Append")]
    Task AppendAsync(ApiAuditEntry entry);

    /// <summary>The entries, oldest first (the newest <see cref="ApiAuditLogGrain.Limit"/>).</summary>
    [Alias("List")]
    Task<ImmutableArray<ApiAuditEntry>> ListAsync();
}

/// <param name="Sequence">Increasing per log; the paging key.</param>
/// <param name="Who">The API key's name, <c>anonymous</c> without authentication, <c>-</c> when the key was refused.</param>
/// <param name="IdempotencyKey">When the request carried one (a replay is logged too, with the replayed status).</param>
[GenerateSerializer, Immutable]
[Alias("omig.api.ApiAuditEntry")]
public sealed record ApiAuditEntry(
    [property: Id(0)] long Sequence,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string Who,
    [property: Id(3)] string Method,
    [property: Id(4)] string Path,
    [property: Id(5)] int Status,
    [property: Id(6)] string? IdempotencyKey);
