using System.Collections.Immutable;
using System.Reflection;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Client.Tests;

/// <summary>
/// The client refuses bad input itself, naming the field and the reason, and sends nothing: every case runs against a
/// grain factory that records any use. The same factory proves a valid request does go out.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class ClientValidationTests
{
    private static HostSpec Host(string id = "h-1", int cores = 32, long mem = 65536, int generation = 3) =>
        new(id, cores, mem, "Xeon", ["avx2"], generation, "1.0.0", "6.1.0", "7.2.0", ImmutableDictionary<string, string>.Empty);

    private static VmSpec Vm(string id = "vm-1", int vcpus = 2, long mem = 4096) =>
        new(id, vcpus, mem, [], "standard", ImmutableDictionary<string, string>.Empty, [], [], []);

    public static TheoryData<string, Func<OmigClient, Task>, string> BadInput => new()
    {
        // name, the call, the field its error must name
        { "host with 0 cores", c => c.AddHostAsync(Host(cores: 0)), "cores" },
        { "host with 1 MiB", c => c.AddHostAsync(Host(mem: 1)), "memory_mib" },
        { "host with generation 0", c => c.AddHostAsync(Host(generation: 0)), "hw_generation" },
        { "host id with a space", c => c.GetHostAsync("h 1"), "host" },
        { "empty host id to remove", c => c.RemoveHostAsync(""), "host" },
        { "VM with 0 vCPUs", c => c.CreateVmAsync(Vm(vcpus: 0), "h-1"), "vcpus" },
        { "VM on a bad host id", c => c.CreateVmAsync(Vm(), "h/1"), "host" },
        { "bad VM id", c => c.GetVmAsync("vm 1"), "vm" },
        { "bad disk id", c => c.GetDiskAsync("d?"), "disk" },
        { "bad VPC id", c => c.GetVpcAsync(""), "vpc" },
        { "QMP command over the limit", c => c.QmpAsync("vm-1", new string('x', OmigClient.MaxQmpCommandBytes + 1)), "command" },
        { "migrate a bad VM id", c => c.MigrateAsync(new MigrationRequest("vm 1")), "vm" },
        { "migrate to a bad host id", c => c.MigrateAsync(new MigrationRequest("vm-1", "h 2")), "to" },
        { "not a migration id", c => c.GetMigrationAsync("job-1"), "migration" },
        { "cancel: not a migration id", c => c.CancelMigrationAsync("x", "because"), "migration" },
        { "force-complete: not a migration id", c => c.ForceCompleteMigrationAsync("x", "op"), "migration" },
        { "bad plan id", c => c.GetPlanAsync("plan 1"), "plan" },
        { "drain of a bad host id", c => c.GetDrainAsync("h 1"), "host" },
        { "abort a drain without a reason", c => c.AbortDrainAsync("h-1", ""), "reason" },
        { "bad campaign id", c => c.GetCampaignAsync("c 1"), "campaign" },
        { "pause a campaign without a reason", c => c.PauseCampaignAsync("c-1", " "), "reason" },
        { "cancel a campaign with a 501-character reason", c => c.CancelCampaignAsync("c-1", new string('r', 501)), "reason" },
        { "VM pages of 0", c => c.ReadVmsAsync(null, 0).GetAsyncEnumerator().MoveNextAsync().AsTask(), "limit" },
        { "watch: not a migration id", c => c.WatchMigrationAsync("nope").GetAsyncEnumerator().MoveNextAsync().AsTask(), "migration" },
    };

    [Theory]
    [MemberData(nameof(BadInput))]
    public async Task Bad_input_is_refused_with_its_field_and_nothing_is_sent(string name, Func<OmigClient, Task> call, string field)
    {
        var grains = RecordingGrainFactory.Create();
        var client = new OmigClient(grains);

        var error = await Assert.ThrowsAsync<OmigException>(() => call(client));

        Assert.True(error.Code == OmigErrorCode.InvalidArgument && error.Field == field, $"{name}: {error.Code} on '{error.Field}': {error.Message}");
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        Assert.True(((RecordingGrainFactory)(object)grains).Calls.Count == 0, $"{name}: the client sent {string.Join(", ", ((RecordingGrainFactory)(object)grains).Calls)}");
    }

    [Fact]
    public async Task A_valid_request_does_go_out()
    {
        var grains = RecordingGrainFactory.Create();
        var client = new OmigClient(grains);

        // The recording factory refuses to hand out grains, so the call fails — after reaching it.
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.AddHostAsync(Host()));

        Assert.Equal(["GetGrain"], ((RecordingGrainFactory)(object)grains).Calls.Select(c => c.Split('<', '(')[0]).Distinct());
    }
}

/// <summary>An <see cref="IGrainFactory"/> that records every use and refuses it.</summary>
public class RecordingGrainFactory : DispatchProxy
{
    public List<string> Calls { get; } = [];

    public static IGrainFactory Create() => Create<IGrainFactory, RecordingGrainFactory>();

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        Calls.Add($"{targetMethod?.Name}({string.Join(", ", (args ?? []).Select(a => a?.ToString()))})");
        throw new InvalidOperationException($"the client called {targetMethod?.Name}: no call was expected");
    }
}
