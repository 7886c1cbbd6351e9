using OrleansMigrate.Fleet;

namespace OrleansMigrate.Grains.Migration;

/// <summary>The migration policies a cluster knows, by name; starts with <see cref="MigrationPolicy.BuiltIn"/>, plus and
/// over them the silo's <c>Omig:Policies:NAME:…</c> settings.</summary>
public sealed class MigrationPolicyOptions
{
    /// <summary>VM label naming the VM's policy; without it the VM's instance class is its policy when one has that name.</summary>
    public const string PolicyLabel = "migration-policy";

    public Dictionary<string, MigrationPolicy> Policies { get; } = new(MigrationPolicy.BuiltIn, StringComparer.Ordinal);

    public MigrationPolicy Resolve(string? name) =>
        Policies.TryGetValue(name ?? "standard", out var policy) ? policy : Policies["standard"];

    /// <summary>The policy of a VM: its <see cref="PolicyLabel"/> label, else its instance class, else <c>standard</c>.</summary>
    public MigrationPolicy For(VmSpec vm) =>
        vm.Labels.TryGetValue(PolicyLabel, out var label) && Policies.TryGetValue(label, out var byLabel) ? byLabel
        : Policies.TryGetValue(vm.InstanceClass, out var byClass) ? byClass
        : Policies["standard"];
}
