using System.Diagnostics;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>
/// The destination side of a QEMU migration: QEMU started with <c>-incoming defer -S</c>, listening after
/// <c>migrate-incoming</c>. <see cref="Received"/> completes on the destination's own <c>completed</c> event (after a
/// switch to post-copy: on its <c>postcopy-active</c>, the rest of the guest arriving on demand once it runs); the
/// guest then stays paused until <see cref="ResumeAsync"/> sends <c>cont</c> and QEMU confirms with <c>RESUME</c>.
/// </summary>
public sealed class QemuIncomingMigration : IIncomingMigration
{
    private static readonly TimeSpan ResumeWait = TimeSpan.FromSeconds(10);

    /// <summary>How long the consistency check waits for post-copy to bring the last page.</summary>
    private static readonly TimeSpan PostCopyCheckWait = TimeSpan.FromMinutes(10);

    private readonly QemuHypervisorDriver _driver;
    private readonly QemuVm _vm;
    private readonly QemuProcess _process;
    private readonly IncomingMigrationOptions _options;
    private readonly TaskCompletionSource<IncomingResult> _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<(long Timestamp, DateTimeOffset Utc)> _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ConsistencyReport?> _consistency = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _allPages = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _postCopy;
    private readonly IDisposable _subscription;
    private readonly object _gate = new();
    private IncomingMigrationState _state = IncomingMigrationState.Listening;
    private Task<ResumeResult>? _resume;
    private bool _aborted;

    internal QemuIncomingMigration(QemuHypervisorDriver driver, QemuVm vm, QemuProcess process, IncomingMigrationOptions options)
    {
        _driver = driver;
        _vm = vm;
        _process = process;
        _options = options;
        _subscription = process.Subscribe(OnEvent);
        _ = process.Exited.ContinueWith(_ => OnExited(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public string VmId => _vm.Spec.VmId;

    public MigrationEndpoint Endpoint { get; internal set; } = new("127.0.0.1", 0);

    public IncomingMigrationState State
    {
        get
        {
            lock (_gate)
                return _state;
        }
    }

    /// <summary>True once resumed, failed or aborted.</summary>
    public bool Finished => State is IncomingMigrationState.Resumed or IncomingMigrationState.Failed;

    public Task<IncomingResult> Received => _received.Task;

    public Task<ConsistencyReport?> Consistency => _consistency.Task;

    /// <summary>QMP timestamp of the destination's RESUME event: the end of the downtime as QEMU saw it.</summary>
    public DateTimeOffset? ResumedAtUtc => _resumed.Task.IsCompletedSuccessfully ? _resumed.Task.Result.Utc : null;

    public Task<ResumeResult> ResumeAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_resume is not null)
                return _resume;
            if (_aborted || !_received.Task.IsCompletedSuccessfully)
                throw new InvalidOperationException($"resume needs the whole stream received; the incoming side is {_state}.");
            _resume = RunResumeAsync();
            return _resume;
        }
    }

    public async Task AbortAsync(string reason, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_resume is not null || _aborted)
                return;
            _aborted = true;
            _state = IncomingMigrationState.Failed;
        }

        _received.TrySetException(new MigrationFailedException(MigrationFailureKind.SourceAborted, $"incoming migration aborted: {reason}"));
        _consistency.TrySetResult(null);
        _vm.State = VmState.Failed;
        await _process.StopAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
    }

    public IncomingStatistics GetStatistics() => new(0, 0, 0, 0, 0, 0);

    public ValueTask DisposeAsync()
    {
        _subscription.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<ResumeResult> RunResumeAsync()
    {
        await _process.ExecuteAsync("cont").ConfigureAwait(false);
        var (timestamp, utc) = await _resumed.Task.WaitAsync(ResumeWait).ConfigureAwait(false);
        lock (_gate)
            _state = IncomingMigrationState.Resumed;
        _vm.State = VmState.Running;

        // From now on this is the VM's home: recorded so that a restarted agent adopts it (after the resume: an
        // incoming guest is never adopted).
        await QemuHypervisorDriver.WriteStateFileAsync(_vm, _process).ConfigureAwait(false);
        _ = CheckAsync();
        return new ResumeResult(timestamp, utc);
    }

    /// <summary>After the resume, off the downtime: the check of our dirtying guest, when asked for and when the guest is ours.</summary>
    private async Task CheckAsync()
    {
        if (!_options.VerifyConsistency)
        {
            _consistency.TrySetResult(null);
            return;
        }

        try
        {
            // After post-copy, reading all of the guest's memory would fault in every page it still lacks one by one over
            // the stream: the check reads it once the last page arrived (the destination's own `completed`).
            if (_postCopy)
                await _allPages.Task.WaitAsync(PostCopyCheckWait).ConfigureAwait(false);
            var check = await _driver.CheckDirtyGuestAsync(_process, CancellationToken.None).ConfigureAwait(false);
            _consistency.TrySetResult(check?.Report);
        }
        catch (Exception ex) when (ex is QmpConnectionException or QmpTimeoutException or QmpCommandException or QemuException or IOException or TimeoutException or MigrationFailedException)
        {
            _consistency.TrySetException(ex);
        }
    }

    private void OnEvent(QmpEvent e, long received)
    {
        switch (e.Name)
        {
            case "RESUME":
                _resumed.TrySetResult((received, e.Timestamp ?? DateTimeOffset.UtcNow));
                break;
            case "MIGRATION":
                switch (e.Data?["status"]?.GetValue<string>())
                {
                    case "active":
                        lock (_gate)
                        {
                            if (_state == IncomingMigrationState.Listening)
                                _state = IncomingMigrationState.Receiving;
                        }

                        break;
                    // Post-copy: the source sent its device state with the rest of the guest to come on demand. A `cont`
                    // now is QEMU's own way to run the guest the moment that state is loaded (autostart while inmigrate).
                    case "postcopy-active" or "completed":
                        if (e.Data?["status"]?.GetValue<string>() == "postcopy-active")
                            _postCopy = true;
                        else
                            _allPages.TrySetResult();
                        lock (_gate)
                        {
                            if (_state is IncomingMigrationState.Listening or IncomingMigrationState.Receiving)
                                _state = IncomingMigrationState.ReadyToResume;
                        }

                        _received.TrySetResult(new IncomingResult(0, 0, 0, 0, 0, 0, received));
                        break;
                    case "failed":
                        Fail(new MigrationFailedException(MigrationFailureKind.Transport, "the destination QEMU reports the incoming migration failed"));
                        break;
                }

                break;
        }
    }

    private void OnExited()
    {
        if (_process.Stopping)
            return;
        Fail(new MigrationFailedException(MigrationFailureKind.Transport, $"the destination QEMU exited: {_process.ExitDescription}"));
    }

    private void Fail(MigrationFailedException failure)
    {
        // Also after the resume: a post-copy that fails never brings the last page.
        _allPages.TrySetException(failure);
        lock (_gate)
        {
            if (_state is IncomingMigrationState.Resumed or IncomingMigrationState.Failed)
                return;
            _state = IncomingMigrationState.Failed;
        }

        _vm.State = VmState.Failed;
        _received.TrySetException(failure);
        _resumed.TrySetException(failure);
        _consistency.TrySetResult(null);
    }

    internal static double Ms(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;
}
