using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Grains.Hosting;

/// <summary>
/// The options the grains read, checked when the silo starts (<c>ValidateOnStart</c>) with the same ranges the
/// configuration table documents: <c>Omig:…</c> settings are checked before they become these options
/// (<see cref="OmigSiloOptionsValidator"/>), but a host or a test may also set these directly.
/// </summary>
public static class RuntimeOptionsValidation
{
    /// <summary>Registers the validators below and has the host run them at start.</summary>
    public static IServiceCollection AddRuntimeOptionsValidation(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<HostRuntimeOptions>, HostRuntimeOptionsValidator>();
        services.AddOptions<HostRuntimeOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<MigrationAdmissionOptions>, MigrationAdmissionOptionsValidator>();
        services.AddOptions<MigrationAdmissionOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<MigrationPolicyOptions>, MigrationPolicyOptionsValidator>();
        services.AddOptions<MigrationPolicyOptions>().ValidateOnStart();
        return services;
    }

    internal static ValidateOptionsResult Result(IReadOnlyCollection<string> errors) =>
        errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
}

/// <summary>The host runtime's options: a known driver, the analytic driver's acceleration, the simulated guests' size.</summary>
public sealed class HostRuntimeOptionsValidator : IValidateOptions<HostRuntimeOptions>
{
    public ValidateOptionsResult Validate(string? name, HostRuntimeOptions options) => RuntimeOptionsValidation.Result(Check(options));

    public static List<string> Check(HostRuntimeOptions o)
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(o.Driver))
        {
            errors.Add($"Omig:Driver: {(int)o.Driver} is not a known hypervisor driver (simulated, qemu, analytic)");
        }

        if (o.Driver == HypervisorKind.Analytic && (!double.IsFinite(o.TimeAcceleration) || o.TimeAcceleration is < 1 or > 1_000_000))
        {
            errors.Add($"Omig:TimeAcceleration: {o.TimeAcceleration} is not between 1 and 1000000");
        }

        if (o.SimulatedGuestMiB is < 1 or > 65_536)
        {
            errors.Add($"SimulatedGuestMiB: {o.SimulatedGuestMiB} is not between 1 and 65536");
        }

        return errors;
    }
}

/// <summary>Admission limits in their documented ranges (cluster 1–10,000, per host 1–64).</summary>
public sealed class MigrationAdmissionOptionsValidator : IValidateOptions<MigrationAdmissionOptions>
{
    public ValidateOptionsResult Validate(string? name, MigrationAdmissionOptions options) => RuntimeOptionsValidation.Result(
        new AdmissionSettings { MaxPerCluster = options.MaxPerCluster, MaxOutboundPerHost = options.MaxOutboundPerHost, MaxInboundPerHost = options.MaxInboundPerHost }.Check());
}

/// <summary>Every policy in its documented ranges (the same checks as <c>Omig:Policies:NAME:…</c>), and <c>standard</c> present.</summary>
public sealed class MigrationPolicyOptionsValidator : IValidateOptions<MigrationPolicyOptions>
{
    public ValidateOptionsResult Validate(string? name, MigrationPolicyOptions options)
    {
        var errors = new List<string>();
        if (!options.Policies.ContainsKey("standard"))
        {
            errors.Add("Omig:Policies:standard: the default policy 'standard' is missing");
        }

        foreach (var (key, p) in options.Policies)
        {
            if (key != p.Name)
            {
                errors.Add($"Omig:Policies:{key}: the policy under this name is named '{p.Name}'");
            }

            errors.AddRange(new PolicySettings
            {
                DowntimeTargetMs = p.DowntimeTargetMs,
                LinkBandwidthBytesPerSecond = p.LinkBandwidthBytesPerSecond,
                Compression = Word(p.Compression),
                CompletionTimeoutMsPerGiB = p.CompletionTimeoutMsPerGiB,
                StallMs = p.StallMs,
                OnTimeout = Word(p.OnTimeout),
                OnStall = Word(p.OnStall),
                MaxDowntimeTargetMs = p.MaxDowntimeTargetMs,
                MaintenanceWindowUtc = p.MaintenanceWindowUtc,
                MigrationChannels = p.MigrationChannels,
            }.Check(key));
            errors.AddRange(p.CheckCombination(key));
        }

        return RuntimeOptionsValidation.Result(errors);
    }

    /// <summary>The value as configuration writes it, or its number when it is none of the enum's names (then refused).</summary>
    private static string Word<T>(T value)
        where T : struct, Enum =>
        Enum.IsDefined(value) ? Naming.EnumNames.Of(value) : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
