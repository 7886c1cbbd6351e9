using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Errors;
using OrleansMigrate.Faults;
using OrleansMigrate.Fleet;
using OrleansMigrate.Hosting;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Hypervisor.Simulated;
using OrleansMigrate.Migration;
using HvVmSpec = OrleansMigrate.Hypervisor.Drivers.VmSpec;

namespace OrleansMigrate.Agents;

/// <summary>
/// The host runtime over <see cref="IHypervisorDriver"/>: one hypervisor driver (simulated, QEMU or analytic per
/// <see cref="HostRuntimeOptions.Driver"/>) per host this silo serves, and the in-flight migrations by id. Every migration call is idempotent: a replay finds the
/// migration it started, or the finished result it cached.
/// </summary>
public sealed partial class DriverHostRuntime(IOptions<HostRuntimeOptions> options, IFaultInjector faults, ILogger<DriverHostRuntime> logger) : IHostRuntime, IAsyncDisposable
{
    private readonly HostRuntimeOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, IHypervisorDriver> _drivers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IOutgoingMigration> _outgoing = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IIncomingMigration> _incoming = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<FinalCopyReport>>> _finalCopies = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<ResumeReport>>> _resumes = new(StringComparer.Ordinal);

    // One lifecycle lock per VM, not per silo: resuming one VM's destination must never queue behind another VM's
    // prepare, final copy or completion on the same host (that wait lands inside the first VM's downtime). Every
    // lifecycle operation concerns exactly one VM, so none needs a host-wide lock.
    private readonly VmLocks _lifecycle = new();

    /// <summary>VM ids with a lifecycle lock held or awaited now.</summary>
    internal int LockedVms => _lifecycle.Count;

    public string DriverName => Naming.EnumNames.Of(_options.Driver);

    private bool IsQemu => _options.Driver == HypervisorKind.Qemu;

    private bool IsAnalytic => _options.Driver == HypervisorKind.Analytic;

    private IHypervisorDriver Driver(string hostId) => _drivers.GetOrAdd(hostId, h =>
        IsQemu ? Qemu(h)
        : IsAnalytic ? new AnalyticHypervisorDriver(h, _options.TimeAcceleration)
        : new SimulatedHypervisorDriver(h));

    /// <summary>A QEMU driver; which accelerator its guests get (and why) is decided now and logged once known.</summary>
    private QemuHypervisorDriver Qemu(string hostId)
    {
        var driver = new QemuHypervisorDriver(hostId, _options.Qemu);
        _ = driver.ResolveAcceleratorAsync().ContinueWith(
            t => LogAccelerator(logger, hostId, t.Result.Accelerator, t.Result.Reason),
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        return driver;
    }

    private HvVmSpec Spec(Fleet.VmSpec vm) => IsQemu ? QemuVmSpecs.From(vm) : SimulatedVmSpecs.From(vm, _options, modelled: IsAnalytic);

    public async Task<string?> VmDetailAsync(string hostId, string vmId) =>
        (await Driver(hostId).ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId)?.Detail;

    public async Task<Migration.PreflightPrediction> PredictAsync(string hostId, string vmId, MigrationTuning tuning, TimeSpan sample)
    {
        DirtyRateSample measured;
        try
        {
            measured = await Driver(hostId).SampleDirtyRateAsync(vmId, sample);
        }
        catch (VmNotFoundException)
        {
            throw OmigException.NotFound("vm", $"VM '{vmId}' does not run on host '{hostId}'");
        }

        var p = MigrationPredictor.Predict(measured, ToOptions(tuning));
        return new Migration.PreflightPrediction(measured.Method, measured.DirtyBytesPerSecond, measured.WindowMs, measured.MemoryBytes, p.Rounds, p.TotalMs, p.DowntimeMs,
            p.ConvergesWithoutThrottling, p.DowntimeWithinTarget, p.Outcome switch
            {
                MigrationPredictionOutcome.Converges => "converges",
                MigrationPredictionOutcome.ForcedSwitchover => "forced-switchover",
                _ => "fails",
            }, p.BytesSent, p.Reason);
    }

    public async Task<string> QmpAsync(string hostId, string vmId, string commandJson)
    {
        var driver = Driver(hostId);
        if (!driver.SupportsPassthrough)
        {
            throw OmigException.Invalid("command", $"host '{hostId}' runs the {DriverName} hypervisor: QMP needs a QEMU host");
        }

        try
        {
            return await driver.PassthroughAsync(vmId, commandJson);
        }
        catch (ArgumentException ex)
        {
            throw OmigException.Invalid("command", ArgumentMessages.Reason(ex));
        }
        catch (VmNotFoundException)
        {
            throw OmigException.NotFound("vm", $"VM '{vmId}' has no QEMU on host '{hostId}'");
        }
        catch (InvalidOperationException ex)
        {
            throw OmigException.Conflict("vm", ex.Message);
        }
        catch (Exception ex) when (ex is Hypervisor.Qmp.QmpConnectionException or Hypervisor.Qmp.QmpTimeoutException or QemuException)
        {
            throw OmigException.Unavailable("vm", $"QMP: {ex.Message}");
        }
    }

    public async Task<ImmutableArray<string>> RunningVmsAsync(string hostId)
    {
        var vms = await Driver(hostId).ListVmsAsync();
        return [.. vms.Where(v => v.State is VmState.Running or VmState.Paused).Select(v => v.Spec.VmId).Order(StringComparer.Ordinal)];
    }

    public async Task StartVmAsync(string hostId, Fleet.VmSpec spec)
    {
        var driver = Driver(hostId);
        var held = await _lifecycle.AcquireAsync(spec.VmId);
        try
        {
            var existing = (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == spec.VmId);
            if (existing is { State: VmState.Running or VmState.Paused or VmState.Incoming })
            {
                return;
            }

            if (existing is not null)
            {
                await driver.DestroyVmAsync(spec.VmId);
            }

            try
            {
                await driver.CreateVmAsync(Spec(spec));
                await driver.StartVmAsync(spec.VmId);
            }
            catch (Exception ex) when (ex is ArgumentException or QemuException)
            {
                await driver.DestroyVmAsync(spec.VmId);
                throw ex is ArgumentException invalid ? OmigException.Invalid("image", ArgumentMessages.Reason(invalid)) : OmigException.Unavailable("hypervisor", ex.Message);
            }
        }
        finally
        {
            held.Dispose();
        }
    }

    public Task DestroyVmAsync(string hostId, string vmId) => Driver(hostId).DestroyVmAsync(vmId);

    public async Task<HypervisorVmState?> VmStateAsync(string hostId, string vmId) =>
        (await Driver(hostId).ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId)?.State switch
        {
            null => null,
            VmState.Created => HypervisorVmState.Created,
            VmState.Running => HypervisorVmState.Running,
            VmState.Paused => HypervisorVmState.Paused,
            VmState.Incoming => HypervisorVmState.Incoming,
            VmState.PostMigrate => HypervisorVmState.Postmigrate,
            VmState.Failed => HypervisorVmState.Failed,
            VmState.Lost => HypervisorVmState.Lost,
            var other => throw new InvalidOperationException($"the driver reported VM state {other}, which the agent does not know"),
        };

    public async Task<IncomingEndpoint> PrepareIncomingAsync(string hostId, string migrationId, Fleet.VmSpec spec)
    {
        var held = await _lifecycle.AcquireAsync(spec.VmId);
        try
        {
            if (_incoming.TryGetValue(migrationId, out var known))
            {
                return new IncomingEndpoint(known.Endpoint.Host, known.Endpoint.Port, hostId, StartSessionsIn(migrationId, spec));
            }

            await faults.BeforeAsync(FaultSteps.AgentPrepareIncoming, spec.VmId);
            var driver = Driver(hostId);
            var existing = (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == spec.VmId);
            if (existing is { State: VmState.Running or VmState.Paused })
            {
                throw OmigException.Conflict("vm", $"VM '{spec.VmId}' already runs on host '{hostId}'");
            }

            if (existing is not null)
            {
                await driver.DestroyVmAsync(spec.VmId);
            }

            await driver.CreateVmAsync(Spec(spec));
            var incoming = await driver.PrepareIncomingAsync(spec.VmId, new IncomingMigrationOptions
            {
                ListenAddress = _options.ListenAddress,
                VerifyConsistency = _options.VerifyConsistency,
            });
            _incoming[migrationId] = incoming;
            return new IncomingEndpoint(incoming.Endpoint.Host, incoming.Endpoint.Port, hostId, StartSessionsIn(migrationId, spec));
        }
        finally
        {
            held.Dispose();
        }
    }

    public async Task StartOutgoingAsync(string hostId, string migrationId, string vmId, IncomingEndpoint destination, MigrationTuning tuning,
        Func<SessionRoundMessage, Task<SessionRoundAck>>? sendSessions = null)
    {
        var held = await _lifecycle.AcquireAsync(vmId);
        try
        {
            if (_outgoing.ContainsKey(migrationId))
            {
                return;
            }

            await faults.BeforeAsync(FaultSteps.AgentStartOutgoing, vmId);

            // The session rounds are checked and their first read made before the hypervisor's stream starts, so a refusal
            // leaves nothing started.
            var sessions = PrepareSessionsOut(vmId, destination, sendSessions);
            IOutgoingMigration outgoing;
            try
            {
                outgoing = await Driver(hostId).StartOutgoingAsync(vmId, new MigrationEndpoint(destination.Host, destination.Port), ToOptions(tuning));
            }
            catch
            {
                sessions?.Dispose();
                throw;
            }

            _outgoing[migrationId] = outgoing;
            // QEMU sends migrate-continue straight from its event pump; FinalCopyAsync below joins that run.
            outgoing.ContinueAtPause = tuning.ContinueAtPause;

            if (tuning.ContinueAtPause)
            {
                // Parallel switchover: the final copy starts the moment the source pauses, here on the host,
                // with no round trip to the migration grain inside the downtime. The grain's FinalCopy call
                // joins the same run; the destination still resumes only on the grain's word.
                _ = outgoing.PreSwitchover.ContinueWith(
                    t => t.IsCompletedSuccessfully ? FinalCopyAsync(hostId, migrationId) : Task.CompletedTask,
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).Unwrap()
                    .ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            }

            if (sessions is not null)
            {
                StartSessionsPump(migrationId, outgoing, sessions);
            }
        }
        finally
        {
            held.Dispose();
        }
    }

    public async Task<OutgoingSnapshot> WaitOutgoingAsync(string hostId, string migrationId, TimeSpan wait)
    {
        var outgoing = Outgoing(migrationId);
        await Task.WhenAny(outgoing.PreSwitchover, Task.Delay(wait));
        var progress = outgoing.GetProgress();
        var info = new MigrationProgressInfo(progress.Round, progress.BytesSent, progress.BytesRemaining, progress.DirtyRateBytesPerSecond,
            progress.BandwidthBytesPerSecond, progress.ExpectedDowntimeMs,
            progress.BandwidthBytesPerSecond > 0 ? progress.BytesRemaining / progress.BandwidthBytesPerSecond * 1000 : null,
            progress.State.ToString().ToLowerInvariant());
        var pre = outgoing.PreSwitchover;
        string? failure = pre.IsFaulted ? pre.Exception!.GetBaseException().Message : pre.IsCanceled ? "cancelled" : null;
        return new OutgoingSnapshot(info.Stage, info, pre.IsCompletedSuccessfully, pre.IsCompletedSuccessfully ? pre.Result.PausedAtUtc : null,
            failure, progress.State == OutgoingMigrationState.PreLastCopy)
        {
            SwitchoverReason = pre.IsCompletedSuccessfully ? pre.Result.Reason switch
            {
                SwitchoverReason.Converged => "converged",
                SwitchoverReason.RoundLimit => "round-limit",
                SwitchoverReason.TimeLimit => "time-limit",
                SwitchoverReason.Requested => "requested",
                _ => null,
            } : null,
        };
    }

    public void ForceSwitchover(string hostId, string migrationId) => Outgoing(migrationId).RequestSwitchover();

    public void SetDowntimeTarget(string hostId, string migrationId, double downtimeTargetMs)
    {
        if (!double.IsFinite(downtimeTargetMs) || downtimeTargetMs is < 0.1 or > 60_000)
        {
            throw OmigException.Invalid("downtime_target_ms", $"{downtimeTargetMs} is not between 0.1 and 60000");
        }

        Outgoing(migrationId).SetDowntimeTarget(downtimeTargetMs);
    }

    public Task<FinalCopyReport> FinalCopyAsync(string hostId, string migrationId)
    {
        var outgoing = Outgoing(migrationId);
        return _finalCopies.GetOrAdd(migrationId, _ => new Lazy<Task<FinalCopyReport>>(async () =>
        {
            await faults.BeforeAsync(FaultSteps.AgentFinalCopy, outgoing.VmId);

            // The hypervisor's final copy and the final session delta go out together.
            var sessions = FinalSessionsAsync(hostId, migrationId);
            FinalCopyResult final;
            try
            {
                final = await outgoing.FinalCopyAsync();
            }
            catch
            {
                // Observed either way; the hypervisor's failure is the one reported.
                var observed = sessions.ContinueWith(static t => t.Exception?.Flatten(), TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
                throw;
            }

            var done = DateTimeOffset.UtcNow;
            var sent = await sessions;
            var ms = (final.AcknowledgedTimestamp - final.StartedTimestamp) * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
            var times = outgoing.SwitchoverTimes();
            System.Collections.Immutable.ImmutableArray<SwitchoverMark> marks = times.Count > 0
                ? [.. times.Select(t => SwitchoverMark.At(t.Step, hostId, t.AtUtc))]
                : [new SwitchoverMark("final copy", hostId, done.AddMilliseconds(-ms), done)];
            return new FinalCopyReport(ms, final.Pages, final.WireBytes, final.CompressedBytes, sent?.Entries ?? final.SessionDeltaEntries)
            {
                Marks = sent is { Mark: var mark } ? marks.Add(mark) : marks,
            };
        })).Value;
    }

    public async Task<ResumeReport> ResumeIncomingAsync(string hostId, string migrationId)
    {
        Lazy<Task<ResumeReport>> resume;

        // The migration names its VM; the lookup before the lock only finds which VM's lock to take.
        var held = await _lifecycle.AcquireAsync(Incoming(hostId, migrationId).VmId);
        try
        {
            // Decided under the VM's lifecycle lock (the one abort takes), so an abort and a resume of one migration never both win.
            var incoming = Incoming(hostId, migrationId);

            resume = _resumes.GetOrAdd(migrationId, _ => new Lazy<Task<ResumeReport>>(async () =>
            {
                await incoming.Received;
                await WaitFinalSessionsAsync(migrationId);
                await faults.BeforeAsync(FaultSteps.AgentResume, incoming.VmId);
                var resumed = await incoming.ResumeAsync();
                return new ResumeReport(resumed.ResumedAtUtc, null);
            }));
        }
        finally
        {
            held.Dispose();
        }

        return await resume.Value;
    }

    public async Task<DateTimeOffset> WaitReceivedAsync(string hostId, string migrationId)
    {
        await Incoming(hostId, migrationId).Received;
        return DateTimeOffset.UtcNow;
    }

    public async Task<GuestCheck> VerifyIncomingAsync(string hostId, string migrationId)
    {
        if (!_incoming.TryGetValue(migrationId, out var incoming))
        {
            return GuestCheck.NotChecked($"host {hostId}'s agent no longer holds the incoming side (released earlier, or the agent restarted)");
        }

        GuestCheck result;
        if (!_options.VerifyConsistency)
        {
            result = GuestCheck.NotChecked("the check is off on this host (HostRuntime:VerifyConsistency=false)");
        }
        else
        {
            try
            {
                var check = await incoming.Consistency.WaitAsync(TimeSpan.FromSeconds(20));
                result = check is null
                    ? GuestCheck.NotChecked(IsQemu ? "the guest is not one we can read (no dirtying-guest header in its memory)"
                        : IsAnalytic ? "the analytic driver models memory: there is no content to read"
                        : "the driver made no check")
                    : new GuestCheck(check.Consistent ? GuestCheckVerdict.Consistent : GuestCheckVerdict.Inconsistent, check.Summary);
            }
            catch (Exception ex) when (ex is not OmigException)
            {
                // The check could not run (the guest moved during it, QEMU went away, it timed out): that is "not
                // checked", not "inconsistent", and must not hold the roll-forward forever.
                LogCheckFailed(logger, migrationId, ex.Message);
                result = GuestCheck.NotChecked($"the check could not run: {ex.Message}");
            }

            if (result.Verdict == GuestCheckVerdict.Inconsistent)
            {
                LogInconsistent(logger, migrationId, result.Detail);
            }
        }

        if (_incoming.TryRemove(migrationId, out _))
        {
            await incoming.DisposeAsync();
        }

        EndSessions(migrationId);

        _resumes.TryRemove(migrationId, out _);
        return result;
    }

    public async Task<HypervisorReport?> CompleteOutgoingAsync(string hostId, string migrationId, string vmId)
    {
        var held = await _lifecycle.AcquireAsync(vmId);
        try
        {
            HypervisorReport? report = null;
            if (_outgoing.TryGetValue(migrationId, out var outgoing))
            {
                await outgoing.CompleteAsync();
                report = Report(outgoing);
                _outgoing.TryRemove(migrationId, out _);
                await outgoing.DisposeAsync();
            }

            await Driver(hostId).DestroyVmAsync(vmId);
            _finalCopies.TryRemove(migrationId, out _);
            EndSessions(migrationId);
            return report;
        }
        finally
        {
            held.Dispose();
        }
    }

    public async Task CancelOutgoingAsync(string hostId, string migrationId, string vmId, string reason)
    {
        var held = await _lifecycle.AcquireAsync(vmId);
        try
        {
            // Removed only once cancelled: a failed cancel is retried against the same stream.
            if (_outgoing.TryGetValue(migrationId, out var outgoing))
            {
                await outgoing.CancelAsync(reason);
                _outgoing.TryRemove(migrationId, out _);
                await outgoing.DisposeAsync();
            }

            _finalCopies.TryRemove(migrationId, out _);
            EndSessions(migrationId);

            // After a silo restart the stream is gone; make sure the guest runs on the source either way.
            var driver = Driver(hostId);
            var vm = (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId);
            if (vm is { State: VmState.Paused })
            {
                await driver.ResumeVmAsync(vmId);
            }
        }
        finally
        {
            held.Dispose();
        }
    }

    public async Task AbortIncomingAsync(string hostId, string migrationId, string vmId, string reason)
    {
        var held = await _lifecycle.AcquireAsync(vmId);
        try
        {
            if (_resumes.TryGetValue(migrationId, out var resume))
            {
                // A resume was asked for: it either ran the guest (then this migration can only roll
                // forward) or failed before doing so (whatever it failed with: a hypervisor error, a fault, or
                // the final session round that never came), and then the abort goes on.
                bool resumed;
                try
                {
                    await resume.Value;
                    resumed = true;
                }
                catch (Exception)
                {
                    resumed = false;
                    _resumes.TryRemove(migrationId, out _);
                }

                if (resumed)
                {
                    throw OmigException.Conflict("migration", $"migration '{migrationId}' has resumed the VM on '{hostId}': it can only roll forward");
                }
            }

            var driver = Driver(hostId);
            var vm = (await driver.ListVmsAsync()).FirstOrDefault(v => v.Spec.VmId == vmId);
            if (vm is { State: VmState.Running or VmState.Paused } && !_incoming.ContainsKey(migrationId))
            {
                // The guest runs here with no incoming side left: the migration committed and was verified.
                // Resuming the source now would run the VM twice.
                throw OmigException.Conflict("migration", $"VM '{vmId}' runs on '{hostId}' and migration '{migrationId}' is no longer incoming: it can only roll forward");
            }

            if (_incoming.TryRemove(migrationId, out var incoming))
            {
                await incoming.AbortAsync(reason);
                await incoming.DisposeAsync();
            }

            // The VM stays on the source: the sessions copied here are taken out of this host's conntrack again.
            EndSessions(migrationId, removeCopied: true);

            if (vm is not null)
            {
                await driver.DestroyVmAsync(vmId);
            }
        }
        finally
        {
            held.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var driver in _drivers.Values)
        {
            await driver.DisposeAsync();
        }
    }

    private HypervisorReport Report(IOutgoingMigration outgoing)
    {
        if (outgoing.HypervisorStatistics() is { } s)
        {
            return new HypervisorReport(DriverName, s.DowntimeMs, s.TotalMs, s.SetupMs, s.TransferredBytes, s.DirtySyncCount,
                s.DirtyRateBytesPerSecond, s.ThroughputBytesPerSecond, s.CpuThrottlePercent, s.PauseHoldMs, s.DeviceStageMs, s.StopMs);
        }

        var stats = outgoing.GetStatistics();
        var progress = outgoing.GetProgress();
        return new HypervisorReport(DriverName, null, progress.ElapsedMs, null, stats.BytesSent, progress.Round, progress.DirtyRateBytesPerSecond, stats.BulkCopyBytesPerSecond, 0);
    }

    private IIncomingMigration Incoming(string hostId, string migrationId) =>
        _incoming.TryGetValue(migrationId, out var incoming)
            ? incoming
            : throw OmigException.NotFound("migration", $"no incoming migration '{migrationId}' on host '{hostId}' (aborted, or its silo restarted)");

    private IOutgoingMigration Outgoing(string migrationId) =>
        _outgoing.TryGetValue(migrationId, out var outgoing)
            ? outgoing
            : throw OmigException.NotFound("migration", $"no outgoing migration '{migrationId}' on this host (its silo may have restarted)");

    private static MigrationOptions ToOptions(MigrationTuning t) => new()
    {
        DowntimeTargetMs = t.DowntimeTargetMs,
        LinkBandwidthBytesPerSecond = t.LinkBandwidthBytesPerSecond,
        Compression = t.Compression switch
        {
            CompressionScope.None => CompressionMode.None,
            CompressionScope.All => CompressionMode.All,
            CompressionScope.Final => CompressionMode.Final,
            _ => throw new ArgumentOutOfRangeException(nameof(t), t.Compression, "unknown compression scope"),
        },
        PreLastCopy = new PreLastCopyOptions { Enabled = t.PreLastCopy },
        MaxRounds = t.MaxRounds,
        MaxPreCopyMs = t.MaxPreCopyMs,
        LimitAction = t.OnTimeout == TimeoutAction.Abort ? PreCopyLimitAction.Fail : PreCopyLimitAction.ForceSwitchover,
        LimitSource = t.Policy is null ? null : $"policy '{t.Policy}'",
        AutoConverge = t.AutoConverge,
    };

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Host {HostId}: QEMU guests run under {Accelerator}: {Reason}")]
    private static partial void LogAccelerator(ILogger logger, string hostId, string accelerator, string reason);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Migration {MigrationId}: the destination guest could not be checked: {Reason}")]
    private static partial void LogCheckFailed(ILogger logger, string migrationId, string reason);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Migration {MigrationId}: the destination guest failed its consistency check: {Summary}")]
    private static partial void LogInconsistent(ILogger logger, string migrationId, string summary);
}
