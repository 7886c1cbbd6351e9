using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrleansMigrate.Agents;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Tests.Hosting;

/// <summary>The options the grains read are checked at start with the documented ranges, even when set directly.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class RuntimeOptionsValidationTests
{
    public static TheoryData<string, Action<IServiceCollection>, string?> Cases => new()
    {
        { "defaults", _ => { }, null },
        { "analytic without acceleration", s => s.Configure<HostRuntimeOptions>(o => (o.Driver, o.TimeAcceleration) = (HypervisorKind.Analytic, 0)), "Omig:TimeAcceleration: 0" },
        { "an unknown driver", s => s.Configure<HostRuntimeOptions>(o => o.Driver = (HypervisorKind)9), "Omig:Driver: 9" },
        { "a guest of no size", s => s.Configure<HostRuntimeOptions>(o => o.SimulatedGuestMiB = 0), "SimulatedGuestMiB: 0" },
        { "no admission at all", s => s.Configure<MigrationAdmissionOptions>(o => o.MaxPerCluster = 0), "Omig:Admission:MaxPerCluster: 0" },
        { "too many per host", s => s.Configure<MigrationAdmissionOptions>(o => o.MaxInboundPerHost = 65), "Omig:Admission:MaxInboundPerHost: 65" },
        { "a stall of 1 ms", s => s.Configure<MigrationPolicyOptions>(o => o.Policies["fast"] = new MigrationPolicy { Name = "fast", StallMs = 1 }), "Omig:Policies:fast:StallMs: 1" },
        { "an undefined action", s => s.Configure<MigrationPolicyOptions>(o => o.Policies["odd"] = new MigrationPolicy { Name = "odd", OnStall = (StallAction)7 }), "Omig:Policies:odd:OnStall: '7'" },
        { "a window that is not one", s => s.Configure<MigrationPolicyOptions>(o => o.Policies["w"] = new MigrationPolicy { Name = "w", MaintenanceWindowUtc = "25:00-26:00" }), "Omig:Policies:w:MaintenanceWindowUtc" },
        { "17 migration channels", s => s.Configure<MigrationPolicyOptions>(o => o.Policies["wide"] = new MigrationPolicy { Name = "wide", MigrationChannels = 17 }), "Omig:Policies:wide:MigrationChannels: 17" },
        { "no migration channel", s => s.Configure<MigrationPolicyOptions>(o => o.Policies["none"] = new MigrationPolicy { Name = "none", MigrationChannels = 0 }), "Omig:Policies:none:MigrationChannels: 0" },
        { "a policy under another name", s => s.Configure<MigrationPolicyOptions>(o => o.Policies["gold"] = new MigrationPolicy { Name = "silver" }), "named 'silver'" },
        { "no standard policy", s => s.Configure<MigrationPolicyOptions>(o => o.Policies.Remove("standard")), "'standard' is missing" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_bad_option_stops_the_start_naming_the_setting_and_the_reason(string name, Action<IServiceCollection> configure, string? error)
    {
        var services = new ServiceCollection().AddRuntimeOptionsValidation();
        configure(services);
        using var provider = services.BuildServiceProvider();
        var startup = provider.GetRequiredService<IStartupValidator>();

        if (error is null)
        {
            startup.Validate();
            return;
        }

        var refused = Assert.Throws<OptionsValidationException>(startup.Validate);
        Assert.True(refused.Failures.Any(f => f.Contains(error, StringComparison.Ordinal)), $"{name}: [{string.Join("; ", refused.Failures)}] lacks '{error}'");
    }
}
