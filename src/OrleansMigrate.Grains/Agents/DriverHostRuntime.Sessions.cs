using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Agents;
using OrleansMigrate.Errors;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Sessions.Conntrack;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Agents;

/// <summary>
/// The session rounds (<c>Cloud:Sessions:Backend=conntrack</c>): a VM's conntrack entries on the source host copied to the
/// destination host like memory, next to the hypervisor's own stream. The destination announces at prepare that it takes
/// them (<see cref="IncomingEndpoint.SessionsAddress"/>); the source's agent then sends the full table, rounds of what
/// changed every <c>SyncIntervalMs</c> while pre-copy runs, and the final delta read after the VM paused, in parallel
/// with the hypervisor's final copy; the destination writes each round into its host's conntrack and resumes only once
/// the final one is written. A round that cannot be delivered is sent again before any later one; a final round that
/// cannot be delivered fails the final copy, so the migration rolls back.
/// </summary>
public sealed partial class DriverHostRuntime
{
    /// <summary>How long a destination waits at resume for the final session round.</summary>
    private static readonly TimeSpan FinalSessionsWait = TimeSpan.FromSeconds(10);

    /// <summary>Attempts to deliver one round before the pump gives up (the final round then fails the final copy).</summary>
    private const int RoundAttempts = 3;

    private readonly ConcurrentDictionary<string, SessionsOut> _sessionsOut = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SessionsIn> _sessionsIn = new(StringComparer.Ordinal);

    /// <summary>The VM's address whose sessions travel: its first NIC's IPv4 address; null without one.</summary>
    private static IPAddress? SessionsAddressOf(OrleansMigrate.Fleet.VmSpec spec) =>
        spec.Nics.Select(n => IPAddress.TryParse(n.Ip, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork ? ip : null).FirstOrDefault(ip => ip is not null);

    /// <summary>Destination, at prepare: opens this host's conntrack for the VM's rounds; returns the address announced to
    /// the source, or null when sessions are not copied (backend simulated, a VM without an IPv4 NIC, or a migration whose
    /// tuning skips the copy). A replayed prepare carries the same tuning, so it answers the same.</summary>
    private string? StartSessionsIn(string migrationId, OrleansMigrate.Fleet.VmSpec spec, MigrationTuning? tuning)
    {
        // Skipped before conntrack is touched: with no address announced the source sends no rounds, and the resume
        // waits for no final one.
        if (tuning?.SkipSessionCopy == true || !_options.Sessions.UsesConntrack || SessionsAddressOf(spec) is not { } address)
            return null;
        if (_sessionsIn.TryGetValue(migrationId, out _))
            return address.ToString();
        var receiver = new ConntrackSessionReceiver(ns: null);
        try
        {
            receiver.Start();
        }
        catch (ConntrackException ex)
        {
            receiver.Dispose();
            throw new OmigException(OmigErrorCode.Unavailable, "sessions", $"this host cannot take VM '{spec.VmId}''s sessions: {ex.Message}");
        }

        _sessionsIn[migrationId] = new SessionsIn(receiver);
        return address.ToString();
    }

    /// <summary>Source, before its hypervisor stream starts: checks that the session rounds the destination announced can
    /// run here and reads the VM's conntrack entries (subscribed to their changes first). Null when the destination takes
    /// no sessions.</summary>
    private SessionsOut? PrepareSessionsOut(string vmId, IncomingEndpoint destination, Func<SessionRoundMessage, Task<SessionRoundAck>>? send)
    {
        if (destination.SessionsAddress is not { } text)
            return null;
        if (!_options.Sessions.UsesConntrack)
            throw OmigException.Invalid("sessions", $"the destination copies sessions through conntrack but this host's Cloud:Sessions:Backend is '{_options.Sessions.Backend}': configure both hosts alike");
        if (send is null || !IPAddress.TryParse(text, out var address))
            throw OmigException.Invalid("sessions", $"the destination announced session rounds for '{text}' without a way to reach its agent");

        var sender = new ConntrackSessionSender(ns: null, address, _options.Sessions.EventBufferBytes);
        try
        {
            sender.Start();
        }
        catch (ConntrackException ex)
        {
            sender.Dispose();
            throw new OmigException(OmigErrorCode.Unavailable, "sessions", $"cannot read VM '{vmId}''s sessions on this host: {ex.Message}");
        }

        return new SessionsOut(sender, send);
    }

    /// <summary>Source, once its outgoing migration is set up: registers the rounds and starts the pump.</summary>
    private void StartSessionsPump(string migrationId, IOutgoingMigration outgoing, SessionsOut copy)
    {
        _sessionsOut[migrationId] = copy;
        copy.Pump = Task.Run(() => PumpSessionsAsync(migrationId, outgoing, copy));
    }

    /// <summary>Rounds of changes while pre-copy runs; ends at the pause (the final round is the final copy's).</summary>
    private async Task PumpSessionsAsync(string migrationId, IOutgoingMigration outgoing, SessionsOut copy)
    {
        var interval = TimeSpan.FromMilliseconds(_options.Sessions.SyncIntervalMs);
        try
        {
            while (!copy.Stop.IsCancellationRequested && !outgoing.PreSwitchover.IsCompleted)
            {
                await DeliverAsync(copy, final: false, copy.Stop.Token).ConfigureAwait(false);
                await Task.WhenAny(outgoing.PreSwitchover, Task.Delay(interval, copy.Stop.Token)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (copy.Stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Undelivered rounds stay queued: the final delivery sends them first, or fails the final copy.
            LogSessionsFailed(logger, migrationId, ex.GetBaseException().Message);
        }
    }

    /// <summary>Takes the next round (unless an undelivered one waits) and delivers everything queued, in order.</summary>
    private static async Task DeliverAsync(SessionsOut copy, bool final, CancellationToken cancellationToken)
    {
        await copy.Sending.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // An empty round is only worth sending as the first (the table may be empty) or the final one.
            if (copy.Sender.NextRound(evenIfEmpty: final) is { } round)
                copy.Queue.Enqueue(new SessionRoundMessage(round.Round, round.Entries, round.Records, final, round.SyncMs));

            while (copy.Queue.TryPeek(out var next))
            {
                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        await copy.Send(next).ConfigureAwait(false);
                        break;
                    }
                    catch (Exception ex) when (attempt < RoundAttempts && !cancellationToken.IsCancellationRequested
                                               && ex is not OmigException { Code: OmigErrorCode.Conflict or OmigErrorCode.InvalidArgument })
                    {
                        // Unreachable or slow: sent again. A refusal (entries the kernel refused, a round out of order)
                        // would only be refused again.
                        await Task.Delay(TimeSpan.FromMilliseconds(20 * attempt), cancellationToken).ConfigureAwait(false);
                    }
                }

                copy.Queue.TryDequeue(out _);
            }
        }
        finally
        {
            copy.Sending.Release();
        }
    }

    /// <summary>Source, in the final copy: the final delta, read now that the VM is paused, delivered before the destination
    /// may resume. Null when this migration copies no sessions.</summary>
    private async Task<(int Entries, SwitchoverMark Mark)?> FinalSessionsAsync(string hostId, string migrationId)
    {
        if (!_sessionsOut.TryGetValue(migrationId, out var copy))
            return null;
        var start = DateTimeOffset.UtcNow;
        await copy.Stop.CancelAsync().ConfigureAwait(false);
        if (copy.Pump is { } pump)
            await pump.ConfigureAwait(false);
        try
        {
            await DeliverAsync(copy, final: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw new OmigException(OmigErrorCode.Unavailable, "sessions", $"the final session round did not reach the destination: {ex.GetBaseException().Message}");
        }

        return (copy.Sender.LastRoundEntries, new SwitchoverMark("sessions final delta", hostId, start, DateTimeOffset.UtcNow));
    }

    public async Task<SessionRoundAck> ApplySessionRoundAsync(string hostId, string migrationId, SessionRoundMessage round)
    {
        ArgumentNullException.ThrowIfNull(round);
        if (!_sessionsIn.TryGetValue(migrationId, out var copy))
            throw OmigException.Conflict("migration", $"host '{hostId}' takes no session rounds for migration '{migrationId}' (not prepared here, or already ended)");
        SessionRoundApplied applied;
        try
        {
            // Off the agent's turn: a first round of 100,000 entries takes about a second to write.
            applied = await Task.Run(() => copy.Receiver.Apply(new SessionRound(round.Round, round.Entries, round.Records, round.SyncMs))).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or InvalidDataException)
        {
            throw OmigException.Invalid("round", $"session round {round.Round} of migration '{migrationId}' refused: {ex.Message}");
        }

        if (applied.Failed > 0)
            throw OmigException.Conflict("sessions", $"{applied.Failed} of {round.Entries} session(s) of round {round.Round} were refused by this host's conntrack (first: {applied.FirstFailure})");
        var ack = new SessionRoundAck(applied.Round, applied.Written, applied.Deleted, applied.ApplyMs);
        if (round.Final)
            copy.Final.TrySetResult(ack);
        return ack;
    }

    /// <summary>Destination, before it resumes: the final session round must be written into this host's conntrack first.</summary>
    private async Task WaitFinalSessionsAsync(string migrationId)
    {
        if (!_sessionsIn.TryGetValue(migrationId, out var copy))
            return;
        try
        {
            await copy.Final.Task.WaitAsync(FinalSessionsWait).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new OmigException(OmigErrorCode.Unavailable, "sessions",
                $"the final session round of migration '{migrationId}' did not arrive within {FinalSessionsWait.TotalSeconds:0} s (last applied: round {copy.Receiver.LastRound})");
        }
    }

    /// <summary>Ends this host's part of a migration's session rounds (commit, rollback or abort). With
    /// <paramref name="removeCopied"/> (the destination of a migration that did not happen) the entries copied here are
    /// deleted from this host's conntrack first, so no stale session of the VM's address stays established here.</summary>
    private void EndSessions(string migrationId, bool removeCopied = false)
    {
        if (_sessionsOut.TryRemove(migrationId, out var outgoing))
            outgoing.Dispose();
        if (_sessionsIn.TryRemove(migrationId, out var incoming))
        {
            if (removeCopied)
            {
                try
                {
                    incoming.Receiver.RemoveAll();
                }
                catch (Exception ex) when (ex is ConntrackException or InvalidOperationException)
                {
                    LogSessionsFailed(logger, migrationId, $"copied sessions not removed after the rollback: {ex.Message}");
                }
            }

            incoming.Dispose();
        }
    }

    [LoggerMessage(EventId = 3120, Level = LogLevel.Warning, Message = "Migration {MigrationId}: session rounds stopped before the pause: {Error}")]
    private static partial void LogSessionsFailed(ILogger logger, string migrationId, string error);

    private sealed class SessionsOut(ConntrackSessionSender sender, Func<SessionRoundMessage, Task<SessionRoundAck>> send) : IDisposable
    {
        public ConntrackSessionSender Sender { get; } = sender;

        public Func<SessionRoundMessage, Task<SessionRoundAck>> Send { get; } = send;

        public CancellationTokenSource Stop { get; } = new();

        public SemaphoreSlim Sending { get; } = new(1, 1);

        /// <summary>Rounds taken but not yet acknowledged, oldest first.</summary>
        public Queue<SessionRoundMessage> Queue { get; } = new();

        public Task? Pump { get; set; }

        public void Dispose()
        {
            Stop.Cancel();

            // The pump ends at its next step (cancelled); the sender is closed after it, under the sending lock.
            _ = (Pump ?? Task.CompletedTask).ContinueWith(_ =>
            {
                Sending.Wait();
                Sender.Dispose();
            }, TaskScheduler.Default);
        }
    }

    private sealed class SessionsIn(ConntrackSessionReceiver receiver) : IDisposable
    {
        public ConntrackSessionReceiver Receiver { get; } = receiver;

        public TaskCompletionSource<SessionRoundAck> Final { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Dispose() => Receiver.Dispose();
    }
}
