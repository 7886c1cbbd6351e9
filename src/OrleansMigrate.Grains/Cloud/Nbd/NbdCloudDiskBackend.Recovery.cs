using System.Text.Json.Nodes;
using OrleansMigrate.Errors;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Grains.Cloud.Nbd;

/// <summary>The daemon dying under the store: started again (or attached again) and given back, from the table, every
/// node and every export that was live; calls meanwhile fail with Unavailable.</summary>
public sealed partial class NbdCloudDiskBackend
{
    private int _restarts;
    private bool _disposed;
    private string? _lastReviveError;

    // Set from the moment a new daemon is in place until its disks have all been added back: a replay that failed half
    // way is finished by the next call, even though the daemon itself is alive.
    private bool _replayPending;

    /// <summary>How many times the store has brought its daemon back after it died (started or attached again) and added
    /// its disks back; counted once the replay is done, so a reader never sees a restart whose exports are still missing.</summary>
    public int DaemonRestarts => Volatile.Read(ref _restarts);

    /// <summary>Why the last try to bring the daemon back failed (null once one succeeded).</summary>
    public string? LastReviveError => Volatile.Read(ref _lastReviveError);

    /// <summary>How often the store looks whether its daemon is still alive, and brings it back when not (an attached
    /// daemon's supervisor restarts it; no call may come to notice it, and guests' clients wait meanwhile).</summary>
    public static readonly TimeSpan WatchInterval = TimeSpan.FromSeconds(1);

    private Timer? _watchdog;

    private void StartWatching() => _watchdog = new Timer(_ => Revive(null), null, WatchInterval, WatchInterval);

    /// <summary>A daemon this store started exited: started again at once, so guests' clients find their exports within
    /// their reconnect delay. A failure is kept for the next call, which tries again.</summary>
    private void OnDaemonExited(QemuStorageDaemon daemon) => Revive(daemon);

    /// <summary>In the background: brings the daemon back if it is dead (and is still <paramref name="daemon"/>, when
    /// given). Skipped when a call holds the gate: that call does it.</summary>
    private void Revive(QemuStorageDaemon? daemon) =>
        _ = Task.Run(async () =>
        {
            if (_disposed || (daemon is not null && !ReferenceEquals(daemon, _daemon)) || (daemon is null && _daemon.IsAlive && !_replayPending))
            {
                return;
            }

            if (!await _gate.WaitAsync(daemon is null ? TimeSpan.Zero : Timeout.InfiniteTimeSpan).ConfigureAwait(false))
            {
                return;
            }

            try
            {
                if (!_disposed && (daemon is null || ReferenceEquals(daemon, _daemon)))
                {
                    await EnsureDaemonLockedAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (OmigException)
            {
                // Kept in LastReviveError; the next call or look tries again.
            }
            finally
            {
                _gate.Release();
            }
        });

    /// <summary>Under the gate: a daemon that is alive is used as it is; a dead one is revived and its disks added back
    /// (<see cref="ReplayLockedAsync"/>). Throws Unavailable naming the daemon when it cannot be brought back.</summary>
    private async Task EnsureDaemonLockedAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_daemon.IsAlive && !_replayPending)
        {
            return;
        }

        var dead = _daemon;
        try
        {
            if (!dead.IsAlive)
            {
                var fresh = await dead.ReviveAsync(cancellationToken).ConfigureAwait(false);
                _daemon = fresh;
                _replayPending = true;
                fresh.Exited += OnDaemonExited;
            }

            await ReplayLockedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Named after the daemon in place now: the new one when it came back but its replay failed.
            var gone = DaemonGone(_daemon, e);
            Volatile.Write(ref _lastReviveError, gone.Reason);
            throw gone;
        }

        // The error is cleared before the count moves, so whoever sees the restart sees no stale error with it.
        Volatile.Write(ref _lastReviveError, null);
        _replayPending = false;
        Interlocked.Increment(ref _restarts);
    }

    /// <summary>Adds back what the table holds and the daemon lacks: each disk's block node, then each export marked live.
    /// A fenced or paused handle's export stays absent. What the daemon already has (a daemon that kept running while
    /// only the connection to it was lost) is left as it is.</summary>
    private async Task ReplayLockedAsync(CancellationToken cancellationToken)
    {
        var nodes = (await _daemon.ExecuteAsync("query-named-block-nodes", cancellationToken: cancellationToken).ConfigureAwait(false) as JsonArray ?? [])
            .Select(n => n?["node-name"]?.GetValue<string>()).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var exports = await ExportIdsAsync(cancellationToken).ConfigureAwait(false);
        foreach (var v in _volumes.Values)
        {
            if (!nodes.Contains(v.Node))
            {
                await AddNodeAsync(v, cancellationToken).ConfigureAwait(false);
            }

            foreach (var h in v.Handles.Values)
            {
                // A restarted daemon lost the holders' nodes, and with them a running fence's bitmap.
                h.FilterAdded = nodes.Contains(h.FilterNode);
                if (!h.FilterAdded && h.Fence is { NotChecked: null } fence)
                {
                    fence.NotChecked = "the storage daemon restarted after the fence: its count was lost with it";
                }
            }

            foreach (var h in v.Handles.Values.Where(h => h.Live && !exports.Contains(h.ExportId)))
            {
                await AddExportAsync(v, h, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A failure that means the daemon is gone (its monitor connection broke or went silent), not a refusal; an
    /// I/O error counts only when the daemon is in fact dead (a full disk while creating an image is not the daemon).</summary>
    private bool IsDaemonFailure(Exception e) =>
        e is QmpConnectionException or QmpTimeoutException || (e is IOException or ObjectDisposedException && !_daemon.IsAlive);

    private static OmigException DaemonGone(QemuStorageDaemon daemon, Exception e) =>
        OmigException.Unavailable("disk",
            $"the storage daemon (qemu-storage-daemon{(daemon.ProcessId is { } pid ? $" pid {pid}" : "")}, QMP {daemon.SocketPath}) is gone: "
            + $"{e.GetBaseException().Message}. "
            + (daemon.Owned
                ? "This store started it and starts it again; the call can be retried"
                : "Start it again (the lab: omig lab up); the store attaches again at its next call and adds its disks back"));

    /// <summary>As <see cref="DisposeAsync"/>, for a container that disposes synchronously.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Stops watching the daemon and disposes it: one the store started is killed by its pid, an attached one is
    /// left running.</summary>
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_watchdog is not null)
            {
                await _watchdog.DisposeAsync().ConfigureAwait(false);
            }

            _daemon.Exited -= OnDaemonExited;
            await _daemon.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }
}
