using OrleansMigrate.Api.Http;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Api.Resources.Ops;

/// <summary>
/// The grains name a bad value by the CLI's switch (<c>max-parallel</c>, <c>shape.vcpus</c>); an API caller sent a JSON
/// field (<c>max_parallel</c>, <c>vcpus</c>). This renames the field of an error on its way out, so the problem names
/// what the caller can fix.
/// </summary>
internal static class FieldNames
{
    public static async Task<T> AsAsync<T>(IReadOnlyDictionary<string, string> rename, Func<Task<T>> run)
    {
        try
        {
            return await run();
        }
        catch (OmigException ex) when (ex.Field is { } field && rename.TryGetValue(field, out var apiField))
        {
            throw new ApiProblemException(ApiProblem.From(ex) with { Field = apiField });
        }
    }

    public static readonly IReadOnlyDictionary<string, string> Drain = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["max-parallel"] = "max_parallel",
        ["max-attempts"] = "max_attempts_per_vm",
        ["prefer-firmware"] = "prefer_firmware",
        ["host"] = "host_id",
        ["reason"] = "reason",
    };

    public static readonly IReadOnlyDictionary<string, string> Campaign = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["firmware"] = "firmware_version",
        ["select"] = "selector_key",
        ["max-parallel-migrations"] = "max_parallel_migrations",
        ["failure-budget"] = "failure_budget",
        ["campaign"] = "campaign_id",
    };

    public static readonly IReadOnlyDictionary<string, string> Plan = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["shape.vcpus"] = "vcpus",
        ["shape.memory"] = "memory_mib",
        ["max-util"] = "max_util",
        ["cool-down"] = "cool_down_minutes",
        ["max-parallel"] = "max_parallel",
        ["plan"] = "plan_id",
    };

    public static readonly IReadOnlyDictionary<string, string> Preflight = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["sample-ms"] = "sample_ms",
        ["vm"] = "vm_id",
        ["to"] = "destination_host",
    };
}
