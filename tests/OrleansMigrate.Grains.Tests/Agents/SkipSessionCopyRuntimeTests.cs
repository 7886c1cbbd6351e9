using System.Collections.Immutable;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OrleansMigrate.Agents;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Tests.Agents;

/// <summary>No-session-copy mode on the destination: a host that copies sessions through conntrack announces no session
/// address when the migration's tuning skips the copy, so its source sends no rounds, on the first prepare and on a replay
/// of it alike. Conntrack itself is never opened on that path, which is why this runs without root or netlink.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class SkipSessionCopyRuntimeTests
{
    [Fact]
    public async Task A_conntrack_destination_takes_no_sessions_when_the_tuning_skips_the_copy_and_a_replay_says_the_same()
    {
        await using var runtime = new DriverHostRuntime(Options.Create(new HostRuntimeOptions
        {
            SimulatedGuestMiB = 8,
            VerifyConsistency = false,
            Sessions = new SessionsBackendOptions { Backend = SessionsBackendOptions.ConntrackBackend },
        }), NoFaults.Instance, NullLogger<DriverHostRuntime>.Instance);
        var vm = new VmSpec("vm-nosess", 1, 1024, [], "standard", ImmutableDictionary<string, string>.Empty, [],
            [new NicSpec("vpc-1", "10.9.0.7", "02:00:0a:09:00:07")], []);
        var tuning = new MigrationTuning(SkipSessionCopy: true);

        var first = await runtime.PrepareIncomingAsync("h2", "m-nosess", vm, tuning);
        var replay = await runtime.PrepareIncomingAsync("h2", "m-nosess", vm, tuning);

        Assert.Null(first.SessionsAddress);
        Assert.Null(replay.SessionsAddress);
        Assert.Equal((first.Host, first.Port), (replay.Host, replay.Port));
        await runtime.AbortIncomingAsync("h2", "m-nosess", vm.VmId, "test over");
    }

    [Fact]
    public void A_tuning_without_the_field_copies_sessions() => Assert.False(new MigrationTuning().SkipSessionCopy);
}
