using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using OrleansMigrate.Audit;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Audit;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Tests.Audit;

[Collection(AuditCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class InvariantAuditorTests(AuditClusterFixture fixture)
{
    [Fact]
    public async Task Runs_passes_on_its_own_and_finds_nothing_on_a_clean_fleet()
    {
        await fixture.CreateVmAsync("a-1");
        var created = DateTimeOffset.UtcNow;

        var first = await fixture.WaitForAsync(s => s.LastPassAt > created, "a pass after the VM was created");
        var second = await fixture.WaitForAsync(s => s.Passes > first.Passes && s.LastPassAt > first.LastPassAt, "a further pass");

        var report = second.LastReport!;
        Assert.True(report.Clean, string.Join("; ", report.Findings.Select(f => $"{f.Invariant} {f.Subject}: {f.Detail}")));
        Assert.True(report.VmsChecked >= 1);
        Assert.Equal(InvariantAudit.Invariants.Order(StringComparer.Ordinal), second.Counts.Keys);
        Assert.All(second.Counts.Values, count => Assert.Equal(0, count));
        Assert.Null(second.LastError);
        Assert.Equal(AuditClusterFixture.Interval.TotalSeconds, second.IntervalSeconds);
        Assert.Equal("Silo_1", second.SiloName);
        Assert.Equal(fixture.Cluster.Silos.Single(s => s.Name == "Silo_1").SiloAddress.ToParsableString(), second.Silo);
    }

    [Fact]
    public async Task Finds_a_vm_whose_hypervisor_lost_it_behind_the_registrys_back()
    {
        var vm = await fixture.CreateVmAsync("a-2");
        try
        {
            await fixture.Runtime.DestroyVmAsync("a-2", vm.VmId);
            var broken = DateTimeOffset.UtcNow;

            var status = await fixture.WaitForAsync(s => s.LastPassAt > broken && HasLost(s.LastReport, vm), $"VM {vm.VmId} as lost");
            Assert.True(status.Counts[InvariantAudit.VmRunsOnce] >= 1);
            Assert.False(status.LastReport!.Clean);

            // A fresh pass (omig audit) agrees with the continuous one.
            Assert.True(HasLost(await FleetAuditor.AuditAsync(fixture.Client), vm));
        }
        finally
        {
            await RepairAsync(vm, "a-2");
        }
    }

    [Fact]
    public async Task The_violations_gauge_reports_the_broken_invariant_from_the_auditors_silo_only()
    {
        var vm = await fixture.CreateVmAsync("a-1");
        try
        {
            await fixture.Runtime.DestroyVmAsync("a-1", vm.VmId);
            var broken = DateTimeOffset.UtcNow;
            await fixture.WaitForAsync(s => s.LastPassAt > broken && HasLost(s.LastReport, vm), $"VM {vm.VmId} as lost");

            var violations = new ConcurrentBag<(string? Invariant, long Value)>();
            var ages = new ConcurrentBag<double>();
            using var listener = new MeterListener
            {
                InstrumentPublished = (instrument, l) =>
                {
                    if (instrument.Meter.Name == MigrationTelemetry.MeterName && instrument.Name is AuditTelemetry.Violations or AuditTelemetry.LastPassAge)
                    {
                        l.EnableMeasurementEvents(instrument);
                    }
                },
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                string? invariant = null;
                foreach (var tag in tags)
                {
                    invariant = tag.Key == "invariant" ? tag.Value as string : invariant;
                }

                violations.Add((invariant, value));
            });
            listener.SetMeasurementEventCallback<double>((_, value, _, _) => ages.Add(value));
            listener.Start();
            listener.RecordObservableInstruments();

            // One series per known invariant, from the one silo the auditor runs on (the host silo has no auditor, and
            // other test clusters of this process do not audit).
            Assert.Equal(InvariantAudit.Invariants.Order(StringComparer.Ordinal), violations.Select(v => v.Invariant).Order(StringComparer.Ordinal));
            var runsOnce = Assert.Single(violations, v => v.Invariant == InvariantAudit.VmRunsOnce);
            Assert.True(runsOnce.Value >= 1, $"omig.audit.violations{{invariant=vm-runs-once}} is {runsOnce.Value}");
            Assert.True(Assert.Single(ages) >= 0);
        }
        finally
        {
            await RepairAsync(vm, "a-1");
        }
    }

    [Fact]
    public async Task Carries_on_with_its_counters_after_being_deactivated()
    {
        var before = await fixture.WaitForAsync(s => s.LastReport is not null, "a completed pass");
        await fixture.Cluster.DeactivateAsync(fixture.Cluster.Client.GetGrain<IInvariantAuditorGrain>(IInvariantAuditorGrain.Key));
        var deactivated = DateTimeOffset.UtcNow;

        var after = await fixture.WaitForAsync(s => s.LastPassAt > deactivated && s.IntervalSeconds > 0, "a pass of the new activation");
        Assert.True(after.Passes > before.Passes, $"passes went from {before.Passes} to {after.Passes}");
    }

    private static bool HasLost(AuditReport? report, VmSpec vm) =>
        report?.Findings.Any(f => f.Invariant == InvariantAudit.VmRunsOnce && f.Subject == vm.VmId) == true;

    /// <summary>Boots the guest again where the registry says it runs, and waits until the auditor sees the fleet clean.</summary>
    private async Task RepairAsync(VmSpec vm, string hostId)
    {
        if (await fixture.Runtime.VmStateAsync(hostId, vm.VmId) is null)
        {
            await fixture.Runtime.StartVmAsync(hostId, vm);
        }

        var repaired = DateTimeOffset.UtcNow;
        await fixture.WaitForAsync(s => s.LastPassAt > repaired && !HasLost(s.LastReport, vm), $"VM {vm.VmId} repaired");
    }
}
