using System.Text.Json;
using System.Text.RegularExpressions;

namespace OrleansMigrate.Api.Tests;

/// <summary>deploy/grafana/omig-migrations.json parses, and every metric its queries name is one <c>/metrics</c> exports
/// (<see cref="MetricsTests.OurMetrics"/>, which the scrape test checks against the real endpoint).</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed partial class GrafanaDashboardTests
{
    [Fact]
    public void Every_metric_the_dashboard_queries_is_one_we_export()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "OrleansMigrate.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        Assert.NotNull(dir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "deploy", "grafana", "omig-migrations.json")));
        var exprs = doc.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray()).Select(t => t.GetProperty("expr").GetString()!).ToList();
        Assert.NotEmpty(exprs);
        var queried = exprs.SelectMany(e => MetricName().Matches(e).Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(queried);
        Assert.All(queried, name => Assert.Contains(name, MetricsTests.OurMetrics));
        Assert.Contains("omig_migration_succeeded", queried);
    }

    /// <summary>Our metric names inside PromQL (labels and functions are not omig_…).</summary>
    [GeneratedRegex(@"\bomig_[a-z_]+\b")]
    private static partial Regex MetricName();
}
