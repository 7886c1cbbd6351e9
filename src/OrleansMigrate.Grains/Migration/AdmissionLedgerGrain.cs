using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Grains.Placement;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// <see cref="IAdmissionLedgerGrain"/>: the slots of every scheduler shard, in memory (<see cref="AdmissionLedger"/>).
/// A new activation asks every shard what it holds before it grants anything; shards that hold slots are asked again
/// every <see cref="Refresh"/>, so slots of a shard that lost its state (its silo died between the grant and its write)
/// come free without waiting for that shard's next request. Non-reentrant: one decision at a time. The shards answer its
/// questions even while they wait for it (their <c>ListAdmittedAsync</c> interleaves).
/// </summary>
[ControlPlanePlacement]
public sealed partial class AdmissionLedgerGrain(
    IOptions<MigrationAdmissionOptions> admission,
    TimeProvider time,
    ILogger<AdmissionLedgerGrain> logger) : Grain, IAdmissionLedgerGrain
{
    internal static readonly TimeSpan Refresh = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan AskAgainAfter = TimeSpan.FromSeconds(1);
    /// <summary>Short: a rebuild asks inside a request, and every shard's request waits behind it.</summary>
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(3);

    private readonly AdmissionLedger _ledger = new(IMigrationSchedulerGrain.Shards);
    private DateTimeOffset _lastAsked = DateTimeOffset.MinValue;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(static g => g.RefreshAsync(), this, new GrainTimerCreationOptions(Refresh, Refresh) { KeepAlive = true });
        await AskAsync(Enumerable.Range(0, IMigrationSchedulerGrain.Shards).ToList());
        LogRebuilt(logger, _ledger.InFlight, IMigrationSchedulerGrain.Shards - _ledger.Unreported.Count, string.Join(", ", _ledger.Unreported));
    }

    public async Task<AdmissionDecision> TryAdmitAsync(int shard, ImmutableArray<AdmissionSlot> held, ImmutableArray<AdmissionSlot> candidates)
    {
        if (shard is < 0 or >= IMigrationSchedulerGrain.Shards)
        {
            throw Errors.OmigException.Invalid("shard", $"{shard} is not a scheduler shard (0-{IMigrationSchedulerGrain.Shards - 1})");
        }

        _ledger.Report(shard, held);
        if (_ledger.Unreported.Count > 0 && time.GetUtcNow() - _lastAsked >= AskAgainAfter && !candidates.IsDefaultOrEmpty)
        {
            await AskAsync(_ledger.Unreported);
        }

        return _ledger.Decide(shard, held, candidates, admission.Value, time.GetUtcNow());
    }

    /// <summary>Asks the shards that hold slots what they hold now (heals slots a shard no longer knows of).</summary>
    private Task RefreshAsync() => _ledger.Holding.Count == 0 ? Task.CompletedTask : AskAsync(_ledger.Holding);

    private async Task AskAsync(IReadOnlyList<int> shards)
    {
        _lastAsked = time.GetUtcNow();
        await Task.WhenAll(shards.Select(async s =>
        {
            try
            {
                _ledger.ReportAnswer(s, await SchedulerShards.Shard(GrainFactory, s).ListAdmittedAsync().WaitAsync(AskTimeout));
            }
            catch (Exception ex)
            {
                // Its silo is going or the database is away: asked again at the next request (or refresh).
                LogAskFailed(logger, s, ex.GetBaseException().Message);
            }
        }));
    }

    [LoggerMessage(EventId = 4016, Level = LogLevel.Information, Message = "Admission ledger activated: {InFlight} migrations in flight reported by {Reported} scheduler shards (not yet: {Missing})")]
    private static partial void LogRebuilt(ILogger logger, int inFlight, int reported, string missing);

    [LoggerMessage(EventId = 4017, Level = LogLevel.Warning, Message = "Admission ledger: scheduler shard {Shard} did not say what it holds ({Error}); nothing is granted until it does")]
    private static partial void LogAskFailed(ILogger logger, int shard, string error);
}
