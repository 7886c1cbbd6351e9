using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting;
using Orleans.TestingHost;
using OrleansMigrate.Agents;
using OrleansMigrate.Client;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Cloud;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Migration;

/// <summary>
/// Makes host agents unreachable the way a dead silo does: every call a grain makes to the agent of a host that is
/// "down" fails with Orleans' <see cref="SiloUnavailableException"/> (with Orleans' own text, troubleshooting link
/// included), while the simulated hypervisor under it goes on.
/// </summary>
public sealed class UnreachableAgents : IOutgoingGrainCallFilter
{
    /// <summary>The text Orleans puts in the exception, which must never reach an operator.</summary>
    public const string OrleansText = "The target silo became unavailable for message: Request [S127.0.0.1:11111:1 sys.svc.user/0]->[S127.0.0.1:11112:2 agent/h]. "
        + "See https://aka.ms/orleans-troubleshooting for troubleshooting help.";

    private readonly ConcurrentDictionary<string, bool> _down = new(StringComparer.Ordinal);

    public void Down(string hostId) => _down[hostId] = true;

    public void Up(string hostId) => _down.TryRemove(hostId, out _);

    public void Clear() => _down.Clear();

    public Task Invoke(IOutgoingGrainCallContext context) =>
        context.InterfaceMethod?.DeclaringType == typeof(IHostAgentGrain) && _down.ContainsKey(context.TargetId.Key.ToString()!)
            ? throw new SiloUnavailableException(OrleansText)
            : context.Invoke();
}

/// <summary>One all-roles silo serving every host, 8 MiB guests, a link slow enough that pre-copy lasts seconds, and
/// <see cref="UnreachableAgents"/>; the agent wait's timeout is set per test.</summary>
public sealed class AgentOutageFixture : IAsyncLifetime
{
    public static readonly string[] HostIds = ["o-1", "o-2"];

    public UnreachableAgents Agents { get; } = new();

    public AgentWaitOptions Wait { get; } = new() { PollInterval = TimeSpan.FromMilliseconds(200) };

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public OmigClient Client { get; private set; } = null!;

    public IHostRuntime Runtime => Cluster.Silos[0].ServiceProvider.GetRequiredService<IHostRuntime>();

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(CloudClusterFixture.FastOptions());
            silo.Services.Configure<HostRuntimeOptions>(o => o.SimulatedGuestMiB = 8);
            silo.Services.AddSingleton<IOptions<AgentWaitOptions>>(Options.Create(Wait));
            silo.Services.Configure<MigrationPolicyOptions>(o =>
                // 2 MB/s against a guest dirtying 10 MB/s: pre-copy runs (and never converges) until the test acts.
                o.Policies["slow-link"] = new MigrationPolicy { Name = "slow-link", LinkBandwidthBytesPerSecond = 2_000_000, StallMs = 600_000 });
            silo.AddOutgoingGrainCallFilter(Agents);
            silo.AddOmigMemoryStorage();
            silo.UseInMemoryReminderService();
            silo.AddOrleansMigrateCore(SiloRole.All, SiloMetadataKeys.AnyHost);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Client = new OmigClient(Cluster.Client);
        foreach (var host in HostIds)
        {
            await Client.AddHostAsync(TestFleet.Host(host, cores: 256, memoryMiB: 1024 * 1024));
        }
    }

    public async Task<VmSpec> CreateVmAsync(string hostId)
    {
        var id = TestFleet.Unique("ov");
        var spec = TestFleet.Vm(id, vcpus: 2, memoryMiB: 4096, ip: TestFleet.RandomIp()) with
        {
            Labels = ImmutableDictionary<string, string>.Empty.Add(SimulatedVmSpecs.DirtyLabel, "10"),
        };
        await Client.CreateVmAsync(spec, hostId);
        return spec;
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class AgentOutageCollection : ICollectionFixture<AgentOutageFixture>
{
    public const string Name = "agent-outage";
}

/// <summary>Issue 13, item 3: a rollback whose source host's agent does not answer.</summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(AgentOutageCollection.Name)]
public sealed class AgentOutageTests(AgentOutageFixture fixture) : IDisposable
{
    public void Dispose() => fixture.Agents.Clear();

    [Fact]
    public async Task A_rollback_that_cannot_reach_the_source_agent_says_it_waits_for_it_and_finishes_promptly_when_it_answers()
    {
        fixture.Wait.Timeout = TimeSpan.FromMinutes(1);
        var vm = await fixture.CreateVmAsync("o-1");
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "o-2", Policy: "slow-link"));
        await WaitForAsync(started.MigrationId, s => s.Phase == MigrationPhase.PreCopy, "pre-copy");

        fixture.Agents.Down("o-1");
        var waiting = await WaitForAsync(started.MigrationId, s => s.AgentWait is not null, "a wait for the agent");

        // The status says what it waits for, since when and until when; the failure is ours, not Orleans'.
        Assert.Equal(MigrationPhase.RollingBack, waiting.Phase);
        var wait = waiting.AgentWait!;
        Assert.Equal("o-1", wait.HostId);
        Assert.Equal("source", wait.Role);
        Assert.Equal(wait.Since + fixture.Wait.Timeout, wait.Deadline);
        Assert.Contains("host o-1's agent", wait.Reason);
        Assert.Contains("is unreachable", wait.Reason);
        Assert.Contains("host o-1's agent", waiting.Failure);
        foreach (var text in new[] { wait.Reason, waiting.Failure! })
        {
            Assert.DoesNotContain("aka.ms", text);
            Assert.DoesNotContain("troubleshooting", text);
            Assert.DoesNotContain("Request [", text);
        }

        // The VM's state is unknown while its host's agent cannot be reached (the VM's record follows the migration's
        // status: waited for, not read at once — under load the status with the wait was seen first).
        var record = await OrleansMigrate.Tests.Shared.Eventually.UntilAsync(() => fixture.Client.GetVmAsync(vm.VmId), r => r.Power == PowerState.Unknown,
            TimeSpan.FromSeconds(10), "the VM's power unknown");
        Assert.Equal(PowerState.Unknown, record.Power);
        Assert.Contains("host o-1's agent unreachable since", record.PowerDetail);
        Assert.Contains(started.MigrationId, record.PowerDetail);

        // A watcher hears about the wait while it lasts (its tries go up), not only when the phase changes.
        var heard = new List<MigrationStatus>();
        var listening = DateTime.UtcNow;
        await foreach (var status in fixture.Client.WatchMigrationAsync(started.MigrationId))
        {
            heard.Add(status);
            if (heard.Count == 4 || DateTime.UtcNow - listening > TimeSpan.FromSeconds(5))
            {
                break;
            }
        }

        Assert.True(heard.Count(s => s.AgentWait is not null) >= 4, $"heard {heard.Count} updates in {DateTime.UtcNow - listening} while waiting");
        Assert.True(heard[^1].AgentWait!.Tries > heard[0].AgentWait!.Tries);

        // Back: the rollback finishes at once (the next poll), not at the next reminder a minute later.
        fixture.Agents.Up("o-1");
        var back = DateTime.UtcNow;
        var ended = await WaitForAsync(started.MigrationId, s => s.IsEnded, "the end");
        Assert.True(DateTime.UtcNow - back < TimeSpan.FromSeconds(10), $"the rollback took {DateTime.UtcNow - back} after the agent answered");
        Assert.Equal(MigrationPhase.RolledBack, ended.Phase);
        Assert.Null(ended.AgentWait);
        Assert.Contains("host o-1's agent", ended.Failure);
        record = await fixture.Client.GetVmAsync(vm.VmId);
        Assert.Equal(PowerState.Running, record.Power);
        Assert.Null(record.PowerDetail);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "o-1", AgentOutageFixture.HostIds);
    }

    [Fact]
    public async Task A_rollback_that_cannot_reach_the_destination_agent_while_the_source_runs_the_VM_finishes_without_it()
    {
        fixture.Wait.Timeout = TimeSpan.FromSeconds(3);
        var vm = await fixture.CreateVmAsync("o-1");
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "o-2", Policy: "slow-link"));
        await WaitForAsync(started.MigrationId, s => s.Phase == MigrationPhase.PreCopy, "pre-copy");

        // The destination host goes away mid-copy; the migration is cancelled, so it rolls back with the source running.
        fixture.Agents.Down("o-2");
        await fixture.Client.CancelMigrationAsync(started.MigrationId, "test: the destination host is gone");
        var ended = await WaitForAsync(started.MigrationId, s => s.IsEnded, "the end");

        Assert.Equal(MigrationPhase.RolledBack, ended.Phase);
        Assert.Contains("host o-2's agent", ended.Failure);
        Assert.Contains("Omig:AgentWaitTimeoutSeconds", ended.Failure);
        Assert.Contains("the rollback finished without o-2", ended.Failure);
        Assert.Null(ended.AgentWait);

        // Everything is undone without that host: the disks written on the source alone, relays and the reservation gone,
        // the VM running on the source.
        Assert.Empty((await fixture.Client.GetHostAsync("o-2")).Reservations);
        foreach (var d in vm.Disks)
        {
            var disk = await fixture.Client.GetDiskAsync(d.DiskId);
            Assert.Equal("o-1", disk!.WriterHost);
            Assert.Single(disk.Attachments);
        }

        var table = await fixture.Client.GetVpcAsync(vm.Nics[0].VpcId);
        Assert.DoesNotContain(table.Relays, r => r.Ip == vm.Nics[0].Ip);
        var record = await fixture.Client.GetVmAsync(vm.VmId);
        Assert.Equal(PowerState.Running, record.Power);
        Assert.Equal("o-1", record.HostId);
        Assert.Equal(HypervisorVmState.Running, await fixture.Runtime.VmStateAsync("o-1", vm.VmId));

        // The incoming VM the unreachable host still holds was not torn down; it never ran. Removed by hand here.
        fixture.Agents.Up("o-2");
        Assert.NotEqual(HypervisorVmState.Running, await fixture.Runtime.VmStateAsync("o-2", vm.VmId));
        await fixture.Runtime.AbortIncomingAsync("o-2", started.MigrationId, vm.VmId, "test cleanup");
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "o-1", AgentOutageFixture.HostIds);
    }

    [Fact]
    public async Task A_rollback_that_cannot_reach_the_source_agent_before_the_deadline_ends_failed_saying_what_to_do()
    {
        fixture.Wait.Timeout = TimeSpan.FromSeconds(3);
        var vm = await fixture.CreateVmAsync("o-1");
        var started = await fixture.Client.MigrateAsync(new MigrationRequest(vm.VmId, "o-2", Policy: "slow-link"));
        await WaitForAsync(started.MigrationId, s => s.Phase == MigrationPhase.PreCopy, "pre-copy");

        fixture.Agents.Down("o-1");
        var ended = await WaitForAsync(started.MigrationId, s => s.IsEnded, "the end");

        Assert.Equal(MigrationPhase.Failed, ended.Phase);
        Assert.Contains("rollback gave up after waiting", ended.Failure);
        Assert.Contains("host o-1's agent", ended.Failure);
        Assert.Contains("Omig:AgentWaitTimeoutSeconds", ended.Failure);
        Assert.Contains($"omig vm show {vm.VmId}", ended.Failure);
        Assert.Contains("may still run on o-1", ended.Failure);
        Assert.DoesNotContain("aka.ms", ended.Failure);
        Assert.NotNull(ended.AgentWait);
        Assert.True(ended.TotalMs < 30_000, $"took {ended.TotalMs} ms");

        // Everything that does not need that agent is undone: the destination torn down first, the disks handed back,
        // relays and the reservation gone.
        Assert.Null(await fixture.Runtime.VmStateAsync("o-2", vm.VmId));
        Assert.Empty((await fixture.Client.GetHostAsync("o-2")).Reservations);
        foreach (var d in vm.Disks)
        {
            var disk = await fixture.Client.GetDiskAsync(d.DiskId);
            Assert.Equal("o-1", disk!.WriterHost);
            Assert.Single(disk.Attachments);
        }

        var table = await fixture.Client.GetVpcAsync(vm.Nics[0].VpcId);
        Assert.DoesNotContain(table.Relays, r => r.Ip == vm.Nics[0].Ip);

        // Nobody can say whether the VM runs until its agent answers.
        var record = await fixture.Client.GetVmAsync(vm.VmId);
        Assert.Equal(PowerState.Unknown, record.Power);
        Assert.Contains("gave up waiting", record.PowerDetail);

        // Once it answers, 'omig vm start' records it running (the hypervisor runs it: nothing is booted twice).
        fixture.Agents.Up("o-1");
        Assert.Equal(PowerState.Running, (await fixture.Client.StartVmAsync(vm.VmId)).Power);
        await Invariants.AssertWholeOnAsync(fixture.Client, fixture.Runtime, vm, "o-1", AgentOutageFixture.HostIds);
    }

    [Fact]
    public void An_unreachable_agent_is_reported_in_our_words_with_a_code_never_with_Orleans_text()
    {
        var silo = AgentErrors.Unreachable("h-2", new SiloUnavailableException(UnreachableAgents.OrleansText), "silo silo-b at 127.0.0.1:11112");
        var timeout = AgentErrors.Unreachable("h-2", new TimeoutException("Response did not arrive on time in 00:00:30 for message: Request …"));
        var placement = AgentErrors.Unreachable("h-2", new OmigException(OmigErrorCode.Unavailable, "host", "no live silo serves host 'h-2': start a host silo with --hosts h-2"));

        foreach (var e in new[] { silo, timeout, placement })
        {
            Assert.Equal(OmigErrorCode.Unavailable, e.Code);
            Assert.Equal("host", e.Field);
            Assert.StartsWith("host h-2's agent", e.Reason);
            Assert.DoesNotContain("aka.ms", e.Reason);
            Assert.DoesNotContain("Request", e.Reason);
        }

        Assert.Contains("(silo silo-b at 127.0.0.1:11112) is unreachable", silo.Reason);
        Assert.Contains("--hosts h-2", silo.Reason);
        Assert.Contains("no live silo serves host 'h-2'", placement.Reason);
        Assert.True(AgentErrors.IsUnreachable(new SiloUnavailableException()));
        Assert.True(AgentErrors.IsUnreachable(placement));
        Assert.False(AgentErrors.IsUnreachable(OmigException.Unavailable("hypervisor", "QEMU did not start")));
    }

    private async Task<MigrationStatus> WaitForAsync(string id, Func<MigrationStatus, bool> done, string what)
    {
        MigrationStatus? last = null;
        try
        {
            return await Eventually.UntilAsync(async () =>
            {
                var status = last = await fixture.Client.GetMigrationAsync(id);
                Assert.False(status.IsEnded && !done(status), $"migration {id} ended {status.Phase} ({status.Failure}) before {what}");
                return status;
            }, done, TimeSpan.FromSeconds(60), $"migration {id} reaches {what}", TimeSpan.FromMilliseconds(20));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"migration {id} never reached {what} (in {last?.Phase})", ex);
        }
    }
}
