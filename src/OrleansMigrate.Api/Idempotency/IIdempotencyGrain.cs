namespace OrleansMigrate.Api.Idempotency;

/// <summary>
/// One <c>Idempotency-Key</c> of one caller (key: <c>caller-name/idempotency-key</c>). Kept in a grain with grain storage
/// so a retry that lands on another API process (another silo) still gets the first answer. Non-reentrant: two requests
/// with the same key at once are decided one after the other.
/// </summary>
[Alias("omig.api.IIdempotencyGrain")]
public interface IIdempotencyGrain : IGrainWithStringKey
{
    /// <summary>Claims the key for a request with <paramref name="requestHash"/> (SHA-256 of method, path and body), or says
    /// why not: the stored answer to replay, another request's body, or the first request still running.</summary>
    [Alias("Claim")]
    Task<IdempotencyClaim> ClaimAsync(string requestHash, TimeSpan ttl);

    /// <summary>Stores the answer to replay until the key expires.</summary>
    [Alias("Complete")]
    Task CompleteAsync(string requestHash, StoredResponse response);

    /// <summary>Forgets the claim without an answer (the request failed in a way a retry may fix: 5xx).</summary>
    [Alias("Release")]
    Task ReleaseAsync(string requestHash);
}

public enum IdempotencyOutcome
{
    /// <summary>The key is this request's now: run it, then complete or release.</summary>
    Claimed = 0,
    /// <summary>The same request was answered already: send <see cref="IdempotencyClaim.Response"/> again.</summary>
    Replay = 1,
    /// <summary>The key was used with another method, path or body.</summary>
    Mismatch = 2,
    /// <summary>The first request with this key is still running.</summary>
    InProgress = 3,
}

[GenerateSerializer, Immutable]
[Alias("omig.api.IdempotencyClaim")]
public sealed record IdempotencyClaim(
    [property: Id(0)] IdempotencyOutcome Outcome,
    [property: Id(1)] StoredResponse? Response = null);

/// <summary>An answer as sent: status, JSON body (problem or resource), Location header.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.api.StoredResponse")]
public sealed record StoredResponse(
    [property: Id(0)] int Status,
    [property: Id(1)] string ContentType,
    [property: Id(2)] string Body,
    [property: Id(3)] string? Location);
