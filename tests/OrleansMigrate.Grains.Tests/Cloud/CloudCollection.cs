namespace OrleansMigrate.Tests.Cloud;

/// <summary>The tests that share <see cref="CloudClusterFixture"/>; they run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class CloudCollection : ICollectionFixture<CloudClusterFixture>
{
    public const string Name = "cloud";
}
