using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Audit;

namespace OrleansMigrate.Grains.Audit;

/// <summary>
/// Keeps the continuous auditor running, on every control silo: once the silo is active, and then every
/// <see cref="InvariantAuditOptions.Interval"/>, it calls <see cref="IInvariantAuditorGrain.EnsureRunningAsync"/>. That call
/// is cheap (it interleaves with a running pass); it activates the auditor again, on a live control silo, after it was
/// deactivated or its silo died. When the auditor runs elsewhere, this silo's audit gauges stop reporting.
/// </summary>
internal sealed partial class InvariantAuditDriver(
    IGrainFactory grains,
    IOptions<InvariantAuditOptions> options,
    AuditTelemetry telemetry,
    ILocalSiloDetails silo,
    TimeProvider time,
    ILogger<InvariantAuditDriver> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);
    private CancellationTokenSource? _stop;
    private Task? _loop;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(InvariantAuditDriver), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Interval > TimeSpan.Zero)
        {
            _stop = new CancellationTokenSource();
            _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stop is null || _loop is null)
        {
            return;
        }

        await _stop.CancelAsync();
        try
        {
            await _loop.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Shutdown is in a hurry; the loop ends on its own.
        }

        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var auditor = grains.GetGrain<IInvariantAuditorGrain>(IInvariantAuditorGrain.Key);
        var here = silo.SiloAddress.ToParsableString();
        using var timer = new PeriodicTimer(o.Interval, time);
        try
        {
            do
            {
                try
                {
                    var status = await auditor.EnsureRunningAsync(o.Interval, o.EffectivePassTimeout, o.StuckAfter).WaitAsync(CallTimeout, cancellationToken);
                    if (status.Silo != here)
                    {
                        telemetry.Forget();
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // The control silo holding the auditor is dying or the cluster is starting: the next tick tries again.
                    LogEnsureFailed(logger, ex.GetBaseException().Message);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The silo stops.
        }
    }

    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning, Message = "Could not reach the invariant auditor (retrying next interval): {Reason}")]
    private static partial void LogEnsureFailed(ILogger logger, string reason);
}
