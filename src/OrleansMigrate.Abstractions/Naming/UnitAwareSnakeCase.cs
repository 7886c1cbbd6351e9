using System.Text.Json;

namespace OrleansMigrate.Naming;

/// <summary>snake_case that keeps binary units whole: <c>MemoryMiB</c> is <c>memory_mib</c> (the plain policy writes
/// <c>memory_mi_b</c>). The HTTP API and <c>omig … --json</c> both use it, so a field has one name everywhere and a
/// response field the same name as the request field it came from.</summary>
public sealed class UnitAwareSnakeCase : JsonNamingPolicy
{
    public static readonly UnitAwareSnakeCase Instance = new();

    public override string ConvertName(string name) =>
        SnakeCaseLower.ConvertName(name.Replace("MiB", "Mib", StringComparison.Ordinal).Replace("GiB", "Gib", StringComparison.Ordinal));
}
