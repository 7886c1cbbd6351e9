using OrleansMigrate.Agents;
using System.Collections.Immutable;
using Microsoft.Extensions.Configuration;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;
using OrleansMigrate.Tests.Operations;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Tests.Migration;

/// <summary>Migration policies as configuration: overrides and new classes from <c>Omig:Policies</c>, the VM's policy by
/// label or class, maintenance windows, and classes that are never live-migrated.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class PolicyTests
{
    private static OmigSiloOptions Bind(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();
        var options = new OmigSiloOptions();
        configuration.GetSection(OmigSiloOptions.Section).Bind(options);
        return options;
    }

    [Fact]
    public void Configured_policies_override_built_in_fields_and_add_classes_based_on_standard()
    {
        var options = Bind(
            ("Omig:Policies:critical:DowntimeTargetMs", "30"),
            ("Omig:Policies:critical:MaintenanceWindowUtc", "any"),
            ("Omig:Policies:gold:LinkBandwidthBytesPerSecond", "2500000000"),
            ("Omig:Policies:gold:OnStall", "abort"));
        Assert.Empty(OmigSiloOptionsValidator.Check(options));

        var policies = new MigrationPolicyOptions();
        foreach (var (name, settings) in options.Policies)
        {
            policies.Policies[name] = settings.ApplyTo(policies.Policies.GetValueOrDefault(name) ?? policies.Policies["standard"], name);
        }

        var critical = policies.Resolve("critical");
        Assert.Equal((30.0, StallAction.Abort, (string?)null, true), (critical.DowntimeTargetMs, critical.OnStall, critical.MaintenanceWindowUtc, critical.NotifyOwner));
        var gold = policies.Resolve("gold");
        Assert.Equal(("gold", 2_500_000_000L, StallAction.Abort, 20.0), (gold.Name, gold.LinkBandwidthBytesPerSecond, gold.OnStall, gold.DowntimeTargetMs));
    }

    [Theory]
    [InlineData("DowntimeTargetMs", "0")]
    [InlineData("OnStall", "panic")]
    [InlineData("OnTimeout", "later")]
    [InlineData("Compression", "zstd")]
    [InlineData("MaintenanceWindowUtc", "25:00-02:00")]
    [InlineData("MaintenanceWindowUtc", "night")]
    [InlineData("LinkBandwidthBytesPerSecond", "10")]
    [InlineData("StallMs", "1")]
    [InlineData("MigrationChannels", "0")]
    [InlineData("MigrationChannels", "17")]
    [InlineData("MigrationChannels", "-4")]
    [InlineData("ColdMove", "sometimes")]
    [InlineData("ColdShutdownTimeoutMs", "-1")]
    [InlineData("ColdShutdownTimeoutMs", "600001")]
    public void Bad_policy_settings_are_refused_naming_the_key(string field, string value)
    {
        var errors = OmigSiloOptionsValidator.Check(Bind(($"Omig:Policies:gold:{field}", value)));

        Assert.Contains(errors, e => e.StartsWith($"Omig:Policies:gold:{field}:", StringComparison.Ordinal));
    }

    [Fact]
    public void Migration_channels_reach_the_policy_list_and_the_tuning_both_sides_get()
    {
        var options = Bind(("Omig:Policies:wide:MigrationChannels", "4"));
        Assert.Empty(OmigSiloOptionsValidator.Check(options));

        var wide = options.Policies["wide"].ApplyTo(MigrationPolicy.BuiltIn["standard"], "wide");

        Assert.Equal(4, wide.MigrationChannels);
        Assert.Equal(4, wide.Info().MigrationChannels);
        Assert.Equal(4, wide.Tuning(1024).MigrationChannels);
        Assert.All(MigrationPolicy.BuiltIn.Values, p => Assert.Equal(1, p.Tuning(1024).MigrationChannels));
    }

    [Fact]
    public void Cold_moves_are_allowed_by_every_built_in_class_but_critical_and_configurable_per_policy()
    {
        Assert.Equal(ColdMove.Never, MigrationPolicy.BuiltIn["critical"].ColdMove);
        Assert.All(MigrationPolicy.BuiltIn.Values.Where(p => p.Name != "critical"), p => Assert.Equal(ColdMove.Allow, p.ColdMove));
        Assert.All(MigrationPolicy.BuiltIn.Values, p => Assert.Equal(30_000, p.ColdShutdownTimeoutMs));
        var options = Bind(("Omig:Policies:gpu:ColdMove", "never"), ("Omig:Policies:passthrough:ColdShutdownTimeoutMs", "5000"), ("Omig:Policies:critical:ColdMove", "Allow"));
        Assert.Empty(OmigSiloOptionsValidator.Check(options));

        var gpu = options.Policies["gpu"].ApplyTo(MigrationPolicy.BuiltIn["standard"], "gpu");
        var passthrough = options.Policies["passthrough"].ApplyTo(MigrationPolicy.BuiltIn["passthrough"], "passthrough");
        var critical = options.Policies["critical"].ApplyTo(MigrationPolicy.BuiltIn["critical"], "critical");

        Assert.Equal(ColdMove.Never, gpu.ColdMove);
        Assert.Equal((ColdMove.Allow, 5000.0), (passthrough.ColdMove, passthrough.ColdShutdownTimeoutMs));
        Assert.Equal((ColdMove.Allow, 5000.0), (passthrough.Info().ColdMove, passthrough.Info().ColdShutdownTimeoutMs));
        Assert.Equal(ColdMove.Allow, critical.ColdMove);
    }

    [Fact]
    public void Migration_channels_that_are_not_a_number_are_refused_naming_the_key()
    {
        // Bound as omig-silo binds its configuration; it stops with this message, before anything starts.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new("Omig:Policies:wide:MigrationChannels", "four")]).Build();
        var refused = Assert.Throws<InvalidOperationException>(() =>
            configuration.GetSection(OmigSiloOptions.Section).Bind(new OmigSiloOptions(), o => o.ErrorOnUnknownConfiguration = true));

        Assert.StartsWith("Failed to convert configuration value 'four' at 'Omig:Policies:wide:MigrationChannels'", OmigSiloOptionsValidator.BindingError(refused), StringComparison.Ordinal);
    }

    [Fact]
    public void The_refusal_of_bad_migration_channels_says_the_range()
    {
        var error = Assert.Single(OmigSiloOptionsValidator.Check(Bind(("Omig:Policies:wide:MigrationChannels", "17"))));

        Assert.Equal("Omig:Policies:wide:MigrationChannels: 17 is not between 1 and 16 (1 is one stream, more is QEMU multifd)", error);
    }

    [Fact]
    public void Post_copy_is_refused_for_critical_saying_why()
    {
        var error = Assert.Single(OmigSiloOptionsValidator.Check(Bind(("Omig:Policies:critical:PostCopy", "true"))));

        Assert.Equal("Omig:Policies:critical:PostCopy: post-copy is never allowed for 'critical': a failure during post-copy loses the VM", error);
    }

    [Fact]
    public void Post_copy_is_refused_with_multifd_saying_why()
    {
        var error = Assert.Single(OmigSiloOptionsValidator.Check(Bind(("Omig:Policies:wide:PostCopy", "true"), ("Omig:Policies:wide:MigrationChannels", "4"))));

        Assert.Equal("Omig:Policies:wide:PostCopy: post-copy cannot be combined with 4 migration channels (QEMU 7.2 does not run post-copy with multifd)", error);
    }

    [Fact]
    public void A_policy_that_allows_post_copy_hands_it_to_the_data_plane_and_shows_it()
    {
        var policy = new PolicySettings { PostCopy = true }.ApplyTo(MigrationPolicy.BuiltIn["standard"], "elastic");

        Assert.Empty(OmigSiloOptionsValidator.Check(Bind(("Omig:Policies:elastic:PostCopy", "true"))));
        Assert.True(policy.Tuning(1024).PostCopy);
        Assert.True(policy.Info().PostCopy);
        Assert.False(MigrationPolicy.BuiltIn["standard"].Tuning(1024).PostCopy);
        Assert.All(MigrationPolicy.BuiltIn.Values, p => Assert.False(p.PostCopy));
    }

    [Fact]
    public void A_policy_name_must_be_an_id() =>
        Assert.Contains(OmigSiloOptionsValidator.Check(Bind(("Omig:Policies:Gold Tier:StallMs", "100"))), e => e.StartsWith("Omig:Policies:Gold Tier:", StringComparison.Ordinal));

    [Theory]
    [InlineData("22:00-06:00", "23:30", true)]
    [InlineData("22:00-06:00", "05:59", true)]
    [InlineData("22:00-06:00", "06:00", false)]
    [InlineData("22:00-06:00", "12:00", false)]
    [InlineData("01:00-03:00", "02:00", true)]
    [InlineData("01:00-03:00", "03:30", false)]
    [InlineData("00:00-24:00", "17:45", true)]
    public void Maintenance_windows_are_UTC_and_may_wrap_midnight(string window, string at, bool inside)
    {
        var policy = new MigrationPolicy { Name = "w", MaintenanceWindowUtc = window };
        var now = new DateTimeOffset(2026, 11, 26, int.Parse(at[..2], System.Globalization.CultureInfo.InvariantCulture), int.Parse(at[3..], System.Globalization.CultureInfo.InvariantCulture), 0, TimeSpan.Zero);

        Assert.Equal(inside, policy.InWindow(now));
        Assert.True(new MigrationPolicy { Name = "any" }.InWindow(now));
    }

    [Fact]
    public void A_VMs_policy_is_its_label_then_its_class_then_standard()
    {
        var policies = new MigrationPolicyOptions();
        var vm = TestFleet.Vm("p-1") with { InstanceClass = "economy" };

        Assert.Equal("economy", policies.For(vm).Name);
        Assert.Equal("passthrough", policies.For(vm with { Labels = ImmutableDictionary<string, string>.Empty.Add(MigrationPolicyOptions.PolicyLabel, "passthrough") }).Name);
        Assert.Equal("standard", policies.For(vm with { InstanceClass = "no-such-class" }).Name);
    }
}

/// <summary>Policies through the scheduler: the VM's own policy is recorded, a never-live-migrate class is refused,
/// and the list shows every policy.</summary>
[Collection(OperationsCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class PolicySchedulerTests(MigrationClusterFixture fixture)
{
    [Fact]
    public async Task The_scheduler_applies_the_VMs_own_policy_and_refuses_one_that_is_never_live_migrated()
    {
        var host = TestFleet.Unique("ph");
        var flag = "pol_" + Guid.NewGuid().ToString("N")[..8];
        await fixture.Client.AddHostAsync(TestFleet.Host(host, cores: 64, memoryMiB: 256 * 1024, features: ["avx", flag]));
        var other = TestFleet.Unique("ph");
        await fixture.Client.AddHostAsync(TestFleet.Host(other, cores: 64, memoryMiB: 256 * 1024, features: ["avx", flag]));
        var economy = TestFleet.Vm(TestFleet.Unique("pv"), features: [flag]) with { InstanceClass = "economy" };
        var pinned = TestFleet.Vm(TestFleet.Unique("pv"), features: [flag]) with { Labels = ImmutableDictionary<string, string>.Empty.Add(MigrationPolicyOptions.PolicyLabel, "passthrough") };
        await fixture.Client.CreateVmAsync(economy, host);
        await fixture.Client.CreateVmAsync(pinned, host);

        var started = await fixture.Client.MigrateAsync(new MigrationRequest(economy.VmId, other));
        var refused = await Assert.ThrowsAsync<OmigException>(() => fixture.Client.MigrateAsync(new MigrationRequest(pinned.VmId, other)));

        Assert.Equal("economy", started.Request.Policy);
        Assert.Equal((OmigErrorCode.Incompatible, "policy"), (refused.Code, refused.Field));
        Assert.Contains("never live-migrates it", refused.Message);
        var policies = await fixture.Client.ListPoliciesAsync();
        Assert.Contains(policies, p => p.Name == "passthrough" && !p.LiveMigrate);
        Assert.Contains(policies, p => p.Name == "critical" && p.MaintenanceWindowUtc == "22:00-06:00" && p.NotifyOwner);
        await Eventually.TrueAsync(async () => (await fixture.Client.GetMigrationAsync(started.MigrationId)).IsEnded, TimeSpan.FromSeconds(60),
            $"migration {started.MigrationId} ends", TimeSpan.FromMilliseconds(100));
    }
}
