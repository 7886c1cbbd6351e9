using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Faults;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Faults;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class RandomFaultsTests
{
    private static readonly string[] Steps = [FaultSteps.DiskPromote, FaultSteps.VpcEnableRelay, FaultSteps.AgentFinalCopy, FaultSteps.MigrationPrepare];

    private static List<string> Decisions(RandomFaults faults, IEnumerable<(string Step, string Subject)> calls) =>
        [.. calls.Select(c => $"{c.Step}/{c.Subject}:{faults.Decide(c.Step, c.Subject)?.ToString() ?? "-"}")];

    private static IEnumerable<(string Step, string Subject)> Calls(int perPair) =>
        from step in Steps
        from vm in Enumerable.Range(0, 20).Select(i => $"vm-{i}")
        from n in Enumerable.Range(0, perPair)
        select (step, vm);

    [Fact]
    public void The_same_seed_gives_the_same_faults_whatever_the_interleaving_of_subjects()
    {
        var options = new FaultInjectionOptions { Rate = 0.2, Seed = 42 };
        var inOrder = Decisions(new RandomFaults(options), Calls(5));
        // Other subjects' calls in between, in reverse order: each (step, subject)'s own sequence is unchanged.
        var shuffled = Decisions(new RandomFaults(options), Calls(5).Reverse());
        var perPair = (List<string> d) => d.GroupBy(x => x[..x.LastIndexOf(':')]).ToDictionary(g => g.Key, g => string.Join(",", g.Select(x => x[(x.LastIndexOf(':') + 1)..])));

        Assert.Equal(perPair(inOrder), perPair(shuffled));
        Assert.NotEqual(inOrder, shuffled);
        Assert.NotEqual(inOrder, Decisions(new RandomFaults(new FaultInjectionOptions { Rate = 0.2, Seed = 43 }), Calls(5)));
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.2)]
    [InlineData(0.5)]
    public void The_fault_share_follows_the_rate_and_the_kind_weights(double rate)
    {
        var faults = new RandomFaults(new FaultInjectionOptions { Rate = rate, Seed = 7, FailWeight = 6, SlowWeight = 3, StallWeight = 1 });
        const int N = 20_000;
        var kinds = Enumerable.Range(0, N).Select(i => faults.Decide(Steps[i % Steps.Length], $"s-{i % 97}")).Where(k => k is not null).ToList();

        // Seeded, so deterministic; the bounds are five standard deviations of a binomial.
        Assert.InRange(kinds.Count, (N * rate) - (5 * Math.Sqrt(N * rate * (1 - rate))), (N * rate) + (5 * Math.Sqrt(N * rate * (1 - rate))));
        Assert.InRange(kinds.Count(k => k == FaultKind.Fail) / (double)kinds.Count, 0.5, 0.7);
        Assert.Equal(kinds.Count, faults.InjectedTotal);
        Assert.Equal(N, faults.Calls);
    }

    [Fact]
    public void Only_the_configured_steps_fault_and_provisioning_only_when_named()
    {
        var all = new RandomFaults(new FaultInjectionOptions { Rate = 1 });
        Assert.NotNull(all.Decide(FaultSteps.DiskPromote, "d"));
        Assert.Null(all.Decide(CloudFaultSteps.DiskCreate, "d"));

        var disks = new RandomFaults(new FaultInjectionOptions { Rate = 1, Steps = "disk., vpc.enable-relay" });
        Assert.NotNull(disks.Decide(FaultSteps.DiskClose, "d"));
        Assert.NotNull(disks.Decide(CloudFaultSteps.DiskCreate, "d"));
        Assert.NotNull(disks.Decide(FaultSteps.VpcEnableRelay, "ip"));
        Assert.Null(disks.Decide(FaultSteps.VpcDisableRelay, "ip"));
        Assert.Null(disks.Decide(FaultSteps.AgentResume, "vm"));
    }

    [Fact]
    public async Task A_disarmed_injector_injects_nothing_and_a_fail_throws_naming_step_and_subject()
    {
        var faults = new RandomFaults(new FaultInjectionOptions { Rate = 1, FailWeight = 1, SlowWeight = 0, StallWeight = 0 }, armed: false);
        await faults.BeforeAsync(FaultSteps.DiskPause, "disk-1");
        Assert.Equal(0, faults.Calls);

        faults.Arm();
        var ex = await Assert.ThrowsAsync<InjectedFaultException>(() => faults.BeforeAsync(FaultSteps.DiskPause, "disk-1").AsTask());
        Assert.Equal((FaultSteps.DiskPause, "disk-1"), (ex.Step, ex.Subject));
        Assert.Equal(1, faults.Injected[$"{FaultSteps.DiskPause}:fail"]);
    }

    [Theory]
    [InlineData("Rate", "Omig:Faults:Rate")]
    [InlineData("Steps", "Omig:Faults:Steps")]
    [InlineData("SlowMs", "Omig:Faults:SlowMs")]
    [InlineData("StallMs", "Omig:Faults:StallMs")]
    [InlineData("Weights", "Omig:Faults:FailWeight")]
    public void Bad_fault_settings_are_refused_at_silo_start_naming_the_key(string field, string key)
    {
        var faults = new FaultInjectionOptions { Rate = 0.1 };
        switch (field)
        {
            case "Rate": faults.Rate = 1.5; break;
            case "Steps": faults.Steps = "disk.promote,nonsense.step"; break;
            case "SlowMs": faults.SlowMs = 0; break;
            case "StallMs": faults.StallMs = 700_000; break;
            default: faults.FailWeight = faults.SlowWeight = faults.StallWeight = 0; break;
        }

        var errors = OmigSiloOptionsValidator.Check(new OmigSiloOptions { Faults = faults });

        Assert.Contains(errors, e => e.StartsWith(key + ":", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => new RandomFaults(faults));
    }
}
