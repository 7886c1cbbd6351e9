using Microsoft.Extensions.Logging;
using OrleansMigrate.Audit;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Placement;

namespace OrleansMigrate.Grains.Audit;

/// <summary>
/// The continuous invariant auditor: a non-interleaving grain timer that keeps the activation alive runs one
/// <see cref="InvariantAudit"/> pass per interval, so passes never overlap (a timer tick is not scheduled before the
/// previous one finished) and each is abandoned after its timeout. The timer is started by the audit drivers of the
/// control silos (<see cref="InvariantAuditDriver"/>), which call <see cref="EnsureRunningAsync"/> every interval: when
/// this activation is gone (deactivated, or its silo died), the next call activates it on a live control silo, which
/// carries on from the persisted counters and last report.
/// </summary>
[ControlPlanePlacement]
public sealed partial class InvariantAuditorGrain(
    [PersistentState("auditor", StorageNames.Fleet)] IPersistentState<InvariantAuditorState> state,
    AuditTelemetry telemetry,
    ILocalSiloDetails silo,
    TimeProvider time,
    ILogger<InvariantAuditorGrain> logger) : Grain, IInvariantAuditorGrain
{
    private IGrainTimer? _timer;
    private TimeSpan _interval;
    private TimeSpan _passTimeout;
    private TimeSpan _stuckAfter;

    public Task<AuditorStatus> EnsureRunningAsync(TimeSpan interval, TimeSpan passTimeout, TimeSpan stuckAfter)
    {
        if (interval <= TimeSpan.Zero || passTimeout <= TimeSpan.Zero || stuckAfter <= TimeSpan.Zero)
        {
            throw OmigException.Invalid("interval", "the audit interval, pass timeout and stuck-after time must be positive");
        }

        if (_timer is null)
        {
            (_interval, _passTimeout, _stuckAfter) = (interval, passTimeout, stuckAfter);

            // A new activation continues the schedule of the previous one rather than auditing again at once.
            var due = state.State.LastAttemptAt is { } last
                ? TimeSpan.FromTicks(Math.Clamp((last + interval - time.GetUtcNow()).Ticks, 0, interval.Ticks))
                : TimeSpan.Zero;
            _timer = this.RegisterGrainTimer(PassAsync, new GrainTimerCreationOptions(due, interval) { Interleave = false, KeepAlive = true });
            LogStarted(logger, silo.SiloAddress.ToParsableString(), interval.TotalSeconds);
        }

        return Task.FromResult(Status());
    }

    public Task<AuditorStatus> GetStatusAsync() => Task.FromResult(Status());

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // The next activation, on whichever silo, reports the gauges from there.
        telemetry.Forget();
        return Task.CompletedTask;
    }

    private async Task PassAsync(CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(_passTimeout);
        var startedAt = time.GetUtcNow();
        var started = time.GetTimestamp();
        AuditReport? report = null;
        string? error = null;
        try
        {
            report = await InvariantAudit.RunAsync(GrainFactory, _stuckAfter, bounded.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            error = $"the pass did not finish within {_passTimeout.TotalSeconds:0.#} s";
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            error = ex.GetBaseException().Message;
        }

        var s = state.State;
        var previous = s.LastReport;
        s.Passes++;
        s.LastAttemptAt = startedAt;
        if (report is null)
        {
            s.FailedPasses++;
            s.LastError = error;
            LogPassFailed(logger, error);
        }
        else
        {
            s.LastReport = report;
            s.LastPassAt = startedAt;
            s.LastPassDurationMs = time.GetElapsedTime(started).TotalMilliseconds;
            s.LastError = null;
            if (!SameFindings(previous, report))
            {
                if (report.Clean)
                {
                    LogClean(logger, report.VmsChecked);
                }
                else
                {
                    LogFindings(logger, report.Findings.Length, string.Join("; ", report.Findings.Take(10).Select(f => $"{f.Invariant}: {f.Subject}: {f.Detail}")));
                }
            }
        }

        telemetry.PassEnded(report is not null);
        telemetry.Record(Status());
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception ex)
        {
            // The report is kept in memory and reported; only a new activation would miss it.
            LogSaveFailed(logger, ex);
        }
    }

    private AuditorStatus Status()
    {
        var s = state.State;
        return new AuditorStatus(silo.SiloAddress.ToParsableString(), _timer is null ? 0 : _interval.TotalSeconds, s.Passes, s.FailedPasses,
            s.LastPassAt, s.LastPassDurationMs, s.LastReport, InvariantAudit.CountByInvariant(s.LastReport), s.LastError, time.GetUtcNow(), silo.Name);
    }

    private static bool SameFindings(AuditReport? a, AuditReport b) =>
        a is not null && a.Findings.Select(f => (f.Invariant, f.Subject)).SequenceEqual(b.Findings.Select(f => (f.Invariant, f.Subject)));

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Invariant auditor running on {Silo}, a pass every {IntervalSeconds} s")]
    private static partial void LogStarted(ILogger logger, string silo, double intervalSeconds);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Invariant audit: {Count} finding(s): {Findings}")]
    private static partial void LogFindings(ILogger logger, int count, string findings);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Information, Message = "Invariant audit: every invariant holds ({VmsChecked} VMs checked)")]
    private static partial void LogClean(ILogger logger, int vmsChecked);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Warning, Message = "Invariant audit pass failed: {Reason}")]
    private static partial void LogPassFailed(ILogger logger, string? reason);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Warning, Message = "Invariant auditor could not save its state")]
    private static partial void LogSaveFailed(ILogger logger, Exception ex);
}
