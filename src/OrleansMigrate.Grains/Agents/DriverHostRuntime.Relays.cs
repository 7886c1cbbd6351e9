using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Agents;
using OrleansMigrate.Hypervisor.Linux;
using OrleansMigrate.Lab;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Grains.Agents;

/// <summary>
/// The source host's own switch of a migration's staged relays (<see cref="MigrationTuning.RelayIps"/>; hosts whose VM
/// NICs are their own taps, <see cref="HostRuntimeOptions.TapNics"/>). The network manager staged each relay's route at
/// prepare; the destination's switchover enables it through the manager, which takes tens of milliseconds after the pause
/// (a grain call to the control silo and its commands). Packets reaching the source in that time go into the paused
/// guest's tap and die with the source's QEMU — and so do those already queued in the tap when QEMU pauses the guest. So
/// the agent adds the relay's rule itself (one rtnetlink message, <see cref="PolicyRules"/>) before the pause, with the
/// guest still running: the hypervisor makes the switchover on the control plane's word
/// (<see cref="OrleansMigrate.Hypervisor.Drivers.IOutgoingMigration.TryRunBeforePause"/>) — rules on, then
/// <see cref="HostRuntimeOptions.RelayLeadMs"/> for the tap to drain into the guest, then the pause — and packets arriving
/// from then on wait in the destination's tap until the guest resumes there. When the hypervisor pauses first, the rule
/// goes on at its STOP event, on its event loop; else at the pre-switchover. The manager's enable then finds it on.
/// A rollback deletes it again before the source VM may run (<see cref="CancelOutgoingAsync"/>, the engine's undo on a
/// failure, and at once when the final copy fails); after a commit the manager removes the relay as before.
/// </summary>
public sealed partial class DriverHostRuntime
{
    private readonly ConcurrentDictionary<string, string[]> _relayIps = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<ImmutableArray<SwitchoverMark>>> _relaysOn = new(StringComparer.Ordinal);

    /// <summary>Records the relays the source switches on at the pause (none unless this host's VM NICs are taps).</summary>
    private bool NoteRelays(string migrationId, MigrationTuning tuning)
    {
        if (!_options.TapNics || !tuning.ContinueAtPause || tuning.RelayIps is not { Length: > 0 } ips)
            return false;
        _relayIps[migrationId] = ips;
        // Off the critical path (pre-copy has not started): the switch at the pause then runs at its steady cost.
        PolicyRules.Warm(null, LabConventions.RelayTable, LabConventions.RelayRulePriority);
        return true;
    }

    /// <summary>Just before the pause (or at it): each staged relay's rule added on this host, once per migration, on the
    /// caller's thread (the driver's switchover, or its event pump the moment it reports a pause it made itself: well under
    /// a millisecond per relay); a mark per relay for the timeline. Never throws: a relay this could not switch is enabled
    /// by the destination's switchover as before.</summary>
    private ImmutableArray<SwitchoverMark> RelaysOn(string hostId, string migrationId) =>
        !_relayIps.TryGetValue(migrationId, out var ips)
            ? []
            : _relaysOn.GetOrAdd(migrationId, _ => new Lazy<ImmutableArray<SwitchoverMark>>(() =>
            {
                var marks = ImmutableArray.CreateBuilder<SwitchoverMark>();
                foreach (var ip in ips)
                {
                    var start = DateTimeOffset.UtcNow;
                    try
                    {
                        PolicyRules.Add(null, IPAddress.Parse(ip), LabConventions.RelayTable, LabConventions.RelayRulePriority);
                        marks.Add(new SwitchoverMark($"relay {ip} on at the source", hostId, start, DateTimeOffset.UtcNow));
                    }
                    catch (Exception ex)
                    {
                        LogRelaySwitchFailed(logger, migrationId, ip, "on", ex.Message);
                        marks.Add(new SwitchoverMark($"relay {ip} on at the source failed", hostId, start, DateTimeOffset.UtcNow));
                    }
                }

                return marks.ToImmutable();
            })).Value;

    /// <summary>A rollback on this host: the rules this host added for the migration deleted (after any add still running),
    /// before the source VM may run again. Forgets the migration's relays either way.</summary>
    private void RelaysOff(string migrationId)
    {
        _relayIps.TryRemove(migrationId, out var ips);
        if (!_relaysOn.TryRemove(migrationId, out var on) || ips is null)
            return;
        _ = on.Value;
        foreach (var ip in ips)
        {
            try
            {
                PolicyRules.Delete(null, IPAddress.Parse(ip), LabConventions.RelayTable, LabConventions.RelayRulePriority);
            }
            catch (Exception ex)
            {
                LogRelaySwitchFailed(logger, migrationId, ip, "off", ex.Message);
            }
        }
    }

    /// <summary>A commit: the rules stay (the network manager removes the relays); the migration is forgotten here.</summary>
    private void ForgetRelays(string migrationId)
    {
        _relayIps.TryRemove(migrationId, out _);
        _relaysOn.TryRemove(migrationId, out _);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Migration {MigrationId}: switching the relay of {Ip} {Direction} on this host failed: {Reason}")]
    private static partial void LogRelaySwitchFailed(ILogger logger, string migrationId, string ip, string direction, string reason);
}
