namespace OrleansMigrate.Migration;

/// <summary>The migration policies a cluster knows, by name; starts with <see cref="MigrationPolicy.BuiltIn"/>.</summary>
public sealed class MigrationPolicyOptions
{
    public Dictionary<string, MigrationPolicy> Policies { get; } = new(MigrationPolicy.BuiltIn, StringComparer.Ordinal);

    public MigrationPolicy Resolve(string? name) =>
        Policies.TryGetValue(name ?? "standard", out var policy) ? policy : Policies["standard"];
}
