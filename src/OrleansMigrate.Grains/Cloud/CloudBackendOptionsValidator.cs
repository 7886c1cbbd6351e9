using Orleans;
using Orleans.Runtime;

namespace OrleansMigrate.Grains.Cloud;

/// <summary>Refuses out-of-range <see cref="CloudBackendOptions"/> at silo start, one message per option at fault.</summary>
public sealed class CloudBackendOptionsValidator(CloudBackendOptions options) : IConfigurationValidator
{
    public void ValidateConfiguration()
    {
        if (Check(options) is { Count: > 0 } errors)
        {
            throw new OrleansConfigurationException("Invalid cloud backend options:\n  " + string.Join("\n  ", errors));
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming every option out of range.</summary>
    public static void ThrowIfInvalid(CloudBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (Check(options) is { Count: > 0 } errors)
        {
            throw new ArgumentException("Invalid cloud backend options: " + string.Join("; ", errors), nameof(options));
        }
    }

    public static List<string> Check(CloudBackendOptions o)
    {
        var errors = new List<string>();
        Latency(errors, nameof(o.DiskOpenReadOnlyMs), o.DiskOpenReadOnlyMs);
        Latency(errors, nameof(o.DiskPauseMs), o.DiskPauseMs);
        Latency(errors, nameof(o.DiskReopenReadWriteMs), o.DiskReopenReadWriteMs);
        Latency(errors, nameof(o.DiskUnpauseMs), o.DiskUnpauseMs);
        Latency(errors, nameof(o.DiskCloseMs), o.DiskCloseMs);
        Latency(errors, nameof(o.RelayStageMs), o.RelayStageMs);
        Latency(errors, nameof(o.RelaySwitchMs), o.RelaySwitchMs);
        Latency(errors, nameof(o.RelayRemoveMs), o.RelayRemoveMs);
        Latency(errors, nameof(o.FlowInstallMsPerFlow), o.FlowInstallMsPerFlow);
        if (o.FlowsPerNic is < 1 or > CloudBackendOptions.MaxFlowsPerNic)
        {
            errors.Add($"{nameof(o.FlowsPerNic)}: must be between 1 and {CloudBackendOptions.MaxFlowsPerNic}, got {o.FlowsPerNic}");
        }
        else if (o.FlowInstallMsPerFlow >= 0 && o.FlowInstallTime.TotalMilliseconds > CloudBackendOptions.MaxLatencyMs)
        {
            errors.Add($"{nameof(o.FlowsPerNic)} x {nameof(o.FlowInstallMsPerFlow)}: a flow install must take at most {CloudBackendOptions.MaxLatencyMs} ms, got {o.FlowInstallTime.TotalMilliseconds} ms");
        }

        return errors;
    }

    private static void Latency(List<string> errors, string name, int valueMs)
    {
        if (valueMs is < 0 or > CloudBackendOptions.MaxLatencyMs)
        {
            errors.Add($"{name}: must be between 0 and {CloudBackendOptions.MaxLatencyMs} ms, got {valueMs}");
        }
    }
}
