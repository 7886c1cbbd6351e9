using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Api.Idempotency;

/// <summary>The stored claim of one idempotency key. An expired record counts as absent at once; a reminder due just after
/// the expiry clears it from storage, so the stored keys are the live ones, not every key ever sent. A claim whose request
/// never completed (its API process died) is taken over after <see cref="StaleClaim"/>.</summary>
[ControlPlanePlacement]
public sealed class IdempotencyGrain(
    [PersistentState("api-idempotency", StorageNames.Fleet)] IPersistentState<IdempotencyState> state,
    TimeProvider time) : Grain, IIdempotencyGrain, IRemindable
{
    public static readonly TimeSpan StaleClaim = TimeSpan.FromMinutes(5);
    private const string ExpireReminder = "expire";

    public async Task<IdempotencyClaim> ClaimAsync(string requestHash, TimeSpan ttl)
    {
        var now = time.GetUtcNow();
        var s = state.State;
        var live = s.RequestHash is not null && s.ExpiresAt > now
            && (s.Response is not null || now - s.ClaimedAt < StaleClaim);
        if (live)
        {
            if (!string.Equals(s.RequestHash, requestHash, StringComparison.Ordinal))
            {
                return new IdempotencyClaim(IdempotencyOutcome.Mismatch);
            }

            return s.Response is null ? new IdempotencyClaim(IdempotencyOutcome.InProgress) : new IdempotencyClaim(IdempotencyOutcome.Replay, s.Response);
        }

        state.State = new IdempotencyState { RequestHash = requestHash, ClaimedAt = now, ExpiresAt = now + ttl };
        await state.WriteStateAsync();
        // Reminders fire a minute apart at the least; due a minute after the expiry, again hourly until it clears.
        await this.RegisterOrUpdateReminder(ExpireReminder, ttl + TimeSpan.FromMinutes(1), TimeSpan.FromHours(1));
        return new IdempotencyClaim(IdempotencyOutcome.Claimed);
    }

    public async Task CompleteAsync(string requestHash, StoredResponse response)
    {
        if (string.Equals(state.State.RequestHash, requestHash, StringComparison.Ordinal))
        {
            state.State.Response = response;
            await state.WriteStateAsync();
        }
    }

    public async Task ReleaseAsync(string requestHash)
    {
        if (string.Equals(state.State.RequestHash, requestHash, StringComparison.Ordinal) && state.State.Response is null)
        {
            await state.ClearStateAsync();
            state.State = new IdempotencyState();
        }

        DeactivateOnIdle();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ExpireReminder || state.State.ExpiresAt > time.GetUtcNow())
        {
            return;
        }

        if (state.RecordExists)
        {
            await state.ClearStateAsync();
            state.State = new IdempotencyState();
        }

        if (await this.GetReminder(ExpireReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }

        DeactivateOnIdle();
    }
}

[GenerateSerializer]
[Alias("omig.api.IdempotencyState")]
public sealed class IdempotencyState
{
    [Id(0)] public string? RequestHash { get; set; }

    [Id(1)] public DateTimeOffset ClaimedAt { get; set; }

    [Id(2)] public DateTimeOffset ExpiresAt { get; set; }

    [Id(3)] public StoredResponse? Response { get; set; }
}
