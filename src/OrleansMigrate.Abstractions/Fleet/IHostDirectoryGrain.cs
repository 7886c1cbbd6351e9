using System.Collections.Immutable;
using Orleans.Concurrency;

namespace OrleansMigrate.Fleet;

/// <summary>
/// The host records as of their last change, held in memory and told of every change by the host grains, so a silo's
/// view of the fleet (the destinations fleet operations rank) is brought up to date by reading what changed since its
/// last read, not by asking every host again: a 10,000-host fleet read whole several times a second cost more than the
/// migrations it served. One grain (key <see cref="Key"/>); it fills itself from the registry when it activates and
/// again every minute, so a change it missed (its silo was down) is healed within one.
/// </summary>
[Alias("omig.IHostDirectoryGrain")]
public interface IHostDirectoryGrain : IGrainWithStringKey
{
    public const string Key = "hosts";

    /// <summary>A host's record after a change (null: unregistered). <paramref name="version"/> orders the changes of
    /// one host; an older one arriving late is ignored.</summary>
    [Alias("Publish")]
    Task PublishAsync(string hostId, HostRecord? record, HostVersion version);

    /// <summary>What changed after <paramref name="cursor"/> of <paramref name="epoch"/>; every record when the epoch
    /// is not the directory's current one (it was reactivated, or the reader is new).</summary>
    [Alias("ChangesSince")]
    Task<HostDirectoryChanges> ChangesSinceAsync(Guid epoch, long cursor);

    /// <summary>Reads every host again now (as the minute refill does): what the hosts store replaces any record whose
    /// publish was lost, and hosts no longer registered are dropped. Returns at once when a refill is running.
    /// Interleaves, like the timer's refill: hosts' publishes go on while it asks them.</summary>
    [AlwaysInterleave]
    [Alias("Refill")]
    Task RefillAsync();
}

/// <summary>The order of one host's changes: its registration time, then a counter kept with its record.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.HostVersion")]
public readonly record struct HostVersion([property: Id(0)] DateTimeOffset RegisteredAt, [property: Id(1)] long Change) : IComparable<HostVersion>
{
    public int CompareTo(HostVersion other)
    {
        var c = RegisteredAt.CompareTo(other.RegisteredAt);
        return c != 0 ? c : Change.CompareTo(other.Change);
    }
}

/// <param name="Complete">False while the directory is still filling itself after activation: the reader must read the
/// registry instead.</param>
/// <param name="Full">The records are every host (a new epoch): the reader replaces its view, not patches it.</param>
[GenerateSerializer, Immutable]
[Alias("omig.HostDirectoryChanges")]
public sealed record HostDirectoryChanges(
    [property: Id(0)] Guid Epoch,
    [property: Id(1)] long Cursor,
    [property: Id(2)] bool Complete,
    [property: Id(3)] bool Full,
    [property: Id(4)] ImmutableArray<HostRecord> Changed,
    [property: Id(5)] ImmutableArray<string> Removed);
