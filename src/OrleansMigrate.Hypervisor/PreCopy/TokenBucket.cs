namespace OrleansMigrate.Hypervisor.PreCopy;

/// <summary>
/// Emulates a link of fixed capacity on the sender: a token bucket that refills at
/// <see cref="BytesPerSecond"/> and never banks idle time (depth zero), so a burst after a quiet period
/// cannot beat the link. Ordinary frames may leave up to <see cref="SlackMs"/> before their last byte would
/// have crossed the link, which absorbs sleep jitter; an <c>exact</c> frame (round end, end of stream) waits
/// until every byte before it has crossed, so measured round times and downtime never undercut the link.
/// Called from the frame writer's own thread, so it sleeps (see <see cref="PreciseSleep"/>) rather than
/// awaiting: timer-based delays are several milliseconds coarse on some hosts.
/// </summary>
internal sealed class TokenBucket
{
    /// <summary>How early an ordinary frame may leave, in ms.</summary>
    public const double SlackMs = 2.0;

    private readonly TimeProvider _time;
    private readonly double _ticksPerByte;
    private readonly double _ticksPerMs;
    private readonly bool _realClock;
    private double _linkFreeAt;

    public TokenBucket(long bytesPerSecond, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerSecond);
        _time = time;
        BytesPerSecond = bytesPerSecond;
        _ticksPerByte = (double)time.TimestampFrequency / bytesPerSecond;
        _ticksPerMs = time.TimestampFrequency / 1000.0;
        _realClock = ReferenceEquals(time, TimeProvider.System);
    }

    public long BytesPerSecond { get; }

    /// <summary>Reserves link time for <paramref name="bytes"/> and blocks until they may be written.</summary>
    public void Wait(int bytes, bool exact, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        _linkFreeAt = Math.Max(now, _linkFreeAt) + (bytes * _ticksPerByte);
        var releaseAt = exact ? _linkFreeAt : _linkFreeAt - (SlackMs * _ticksPerMs);
        var waitMs = (releaseAt - now) / _ticksPerMs;
        if (waitMs <= 0)
            return;
        if (!_realClock)
        {
            // A steered clock: let it decide when the time has passed.
            Task.Delay(TimeSpan.FromMilliseconds(waitMs), _time, cancellationToken).Wait(cancellationToken);
            return;
        }

        // Sleep until the release time (a late wake-up within the slack costs no link time: the next
        // reservation starts where this one ended). No spinning: on a small host it would steal the core
        // the guest or the destination needs.
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var remainingMicroseconds = (releaseAt - _time.GetTimestamp()) / _ticksPerMs * 1000;
            if (remainingMicroseconds <= 0)
                return;
            PreciseSleep.Sleep(remainingMicroseconds);
        }
    }
}
