using System.Collections.Immutable;

namespace OrleansMigrate.Cluster;

/// <summary>One silo as <c>omig cluster status</c> shows it.</summary>
/// <param name="Status">Orleans membership status (Active, Joining, ShuttingDown, Dead…).</param>
/// <param name="Roles">Roles from silo metadata: <c>control</c>, <c>host</c>.</param>
/// <param name="Hosts">Host ids whose agents this silo runs; <c>*</c> means any host no other silo serves.</param>
[GenerateSerializer, Immutable]
[Alias("omig.SiloInfo")]
public sealed record SiloInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] string Address,
    [property: Id(2)] string Status,
    [property: Id(3)] ImmutableArray<string> Roles,
    [property: Id(4)] ImmutableArray<string> Hosts)
{
    /// <summary>The <see cref="Hosts"/> entry of a silo that serves any host no other silo serves.</summary>
    public const string AnyHost = "*";
}
