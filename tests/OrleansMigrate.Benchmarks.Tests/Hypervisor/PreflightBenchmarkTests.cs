using System.Text.Json;
using OrleansMigrate.Hypervisor.Bench;
using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Tests.Bench;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class PreflightBenchmarkTests
{
    [Fact]
    public async Task OneRunWritesThePreflightSummaryAndTheRun()
    {
        var path = Path.Combine(Path.GetTempPath(), $"omig-preflight-{Guid.NewGuid():N}.json");
        try
        {
            // Built-in calibration and no warm-up keep this to one migration; the figures are not checked, the shape is.
            var result = await PreflightBenchmark.RunAsync(1, PredictorCalibration.Simulated, outputPath: path, warmupMigrations: 0).WaitAsync(TimeSpan.FromSeconds(120));

            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(path));
            var preflight = document.RootElement.GetProperty("preflight");
            foreach (var field in new[] { "runs", "downtime_error_p50", "total_time_error_p50" })
                Assert.True(preflight.TryGetProperty(field, out _), $"missing preflight.{field}");
            var run = Assert.Single(document.RootElement.GetProperty("runs").EnumerateArray());
            Assert.Equal(PreflightBenchmark.Cases[0].Name, run.GetProperty("case").GetString());
            Assert.True(run.GetProperty("consistent").GetBoolean());
            Assert.True(run.GetProperty("measured_downtime_ms").GetDouble() > 0);
            Assert.True(run.GetProperty("predicted_total_ms").GetDouble() > 0);
            Assert.Equal(1, result.Preflight.Runs);
            Assert.Equal("PredictorCalibration.Simulated (built in)", result.CalibrationSource);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
