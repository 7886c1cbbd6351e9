using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Migration;

namespace OrleansMigrate.Tests.Operations;

/// <summary><c>omig vm migrate --dry-run</c> through the client: sampled dirty rate, prediction, a verdict per destination,
/// and nothing reserved or moved.</summary>
[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class PreflightTests(MigrationClusterFixture fixture)
{
    [Fact]
    public async Task A_preflight_samples_the_guest_predicts_the_migration_and_judges_every_destination_without_moving_anything()
    {
        var flag = "pf_" + Guid.NewGuid().ToString("N")[..8];
        var source = TestFleet.Unique("pfh");
        var good = TestFleet.Unique("pfh");
        var lacking = TestFleet.Unique("pfh");
        await fixture.Client.AddHostAsync(TestFleet.Host(source, cores: 64, memoryMiB: 256 * 1024, features: ["avx", flag]));
        await fixture.Client.AddHostAsync(TestFleet.Host(good, cores: 64, memoryMiB: 256 * 1024, features: ["avx", flag]));
        await fixture.Client.AddHostAsync(TestFleet.Host(lacking, cores: 64, memoryMiB: 256 * 1024, features: ["avx"]));
        var vm = TestFleet.Vm(TestFleet.Unique("pfv"), features: [flag]) with { Labels = ImmutableDictionary<string, string>.Empty.Add("sim.dirty-mbps", "10") };
        await fixture.Client.CreateVmAsync(vm, source);

        var report = await fixture.Client.PreflightAsync(new MigrationRequest(vm.VmId), sampleMs: 500);

        Assert.True(report.Go, report.Verdict);
        Assert.Equal((source, "standard"), (report.SourceHost, report.Policy));
        var p = Assert.IsType<PreflightPrediction>(report.Prediction);
        Assert.Equal("simulated-counters", p.Method);
        Assert.True(p.DirtyBytesPerSecond > 0, "the guest dirties memory but the sample saw none");
        Assert.True(p.Rounds >= 1 && p.TotalMs > 0 && p.DowntimeMs > 0);
        Assert.True(p.ConvergesWithoutThrottling);
        Assert.Contains(report.Candidates, c => c.HostId == good && c.Allowed);
        Assert.Contains(report.Candidates, c => c.HostId == lacking && !c.Allowed && c.Reason!.Contains(flag, StringComparison.Ordinal));
        Assert.DoesNotContain(report.Candidates, c => c.HostId == source);
        Assert.Empty((await fixture.Client.GetHostAsync(good)).Reservations);
        Assert.Equal(source, (await fixture.Client.GetVmAsync(vm.VmId)).HostId);

        // A named destination that cannot take it is a no with its reason; a never-live-migrate class is a no.
        var refused = await fixture.Client.PreflightAsync(new MigrationRequest(vm.VmId, lacking), sampleMs: 200);
        Assert.False(refused.Go);
        Assert.Single(refused.Candidates);
        var pinned = await fixture.Client.PreflightAsync(new MigrationRequest(vm.VmId, Policy: "passthrough"), sampleMs: 200);
        Assert.False(pinned.Go);
        Assert.Contains("never live-migrates", pinned.Verdict);

        var bad = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.PreflightAsync(new MigrationRequest(vm.VmId), sampleMs: 50));
        Assert.Equal("sample-ms", bad.Field);
    }
}
