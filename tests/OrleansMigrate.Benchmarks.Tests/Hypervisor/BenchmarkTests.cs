using System.Text.Json;
using OrleansMigrate.Hypervisor.Bench;

namespace OrleansMigrate.Hypervisor.Tests.Bench;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class BenchmarkTests
{
    private static readonly string[] RequiredFields =
    [
        "case", "guest_mib", "dirty_mb_s", "link_mb_s", "compression", "pre_last_copy", "runs",
        "downtime_ms_p50", "downtime_ms_p99", "total_ms_p50", "bytes_sent", "cpu_s", "consistent",
    ];

    [Fact]
    public async Task SmokeRunWritesJsonWithEveryRequiredField()
    {
        var path = Path.Combine(Path.GetTempPath(), $"omig-dataplane-{Guid.NewGuid():N}.json");
        try
        {
            await DataPlaneBenchmark.RunSmokeAsync(path);

            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(path));
            var single = Assert.Single(document.RootElement.GetProperty("cases").EnumerateArray());
            foreach (var field in RequiredFields)
                Assert.True(single.TryGetProperty(field, out _), $"missing {field}");
            Assert.Equal("uniform-50", single.GetProperty("case").GetString());
            Assert.Equal(16, single.GetProperty("guest_mib").GetInt32());
            Assert.True(single.GetProperty("consistent").GetBoolean());
            Assert.True(document.RootElement.GetProperty("targets").GetArrayLength() > 0);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void DefaultPlanHasEveryCaseOfTheIssueWithEnoughSurgeRuns()
    {
        var cases = DataPlaneBenchmark.DefineCases(new DataPlaneBenchmarkOptions());

        Assert.Equal(
            ["idle", "uniform-50", "hotset-200", "compress-none-10g", "compress-all-10g", "compress-final-10g", "compress-none-1g", "compress-all-1g", "compress-final-1g", "surge-with-plc", "surge-without-plc"],
            cases.Select(c => c.Name));
        Assert.All(cases.Where(c => c.Group == "surge"), c => Assert.True(c.Runs >= 20));
        Assert.All(cases.Where(c => c.Group != "surge"), c => Assert.Equal(1024, c.GuestMiB));
        Assert.Equal(["compress-final-10g", "compress-final-1g"], DataPlaneBenchmark.DefineCases(new DataPlaneBenchmarkOptions { CaseFilter = "compress-final-*" }).Select(c => c.Name));
    }
}
