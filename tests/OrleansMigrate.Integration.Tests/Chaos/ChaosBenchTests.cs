using System.Text.Json;

namespace OrleansMigrate.Tests.Chaos;

/// <summary><c>omig bench chaos</c> at a fixed seed, as CI runs it: migrations with 5 % faults at every seam end
/// without a stuck migration or a broken invariant, and the moves get through after retries. Concurrency 1, so the
/// seed fixes the whole run (which VM meets which fault), not only each step's decisions.</summary>
[Trait(TestCategory.Trait, TestCategory.Slow)]
public sealed class ChaosBenchTests
{
    [Fact]
    public async Task A_chaos_run_at_a_fixed_seed_meets_the_targets_and_reports_every_field()
    {
        var (code, stdout, stderr) = await ProcessRunner.RunAsync("dotnet",
            [RepoPaths.CliDll, "bench", "chaos", "--seed", "20261126", "--fault-rate", "0.05", "--migrations", "60", "--concurrency", "1", "--stuck-after-s", "90", "--json"],
            TimeSpan.FromMinutes(6));
        var json = JsonDocument.Parse(stdout).RootElement;

        foreach (var field in new[] { "seed", "fault_rate", "migrations", "completed", "rolled_back", "failed", "stuck", "invariant_violations", "vms_migrated_after_retries_ratio" })
        {
            Assert.True(json.TryGetProperty(field, out _), $"missing {field}");
        }

        Assert.True(code == 0, $"exit {code}: {stdout}\n{stderr}");
        Assert.Equal(20261126, json.GetProperty("seed").GetInt64());
        Assert.Equal(60, json.GetProperty("migrations").GetInt32());
        Assert.Equal(0, json.GetProperty("invariant_violations").GetInt32());
        Assert.Equal(0, json.GetProperty("stuck").GetInt32());
        Assert.True(json.GetProperty("vms_migrated_after_retries_ratio").GetDouble() >= 0.99, stdout);
        // Faults were really injected, and some of them rolled migrations back.
        Assert.True(json.GetProperty("faults_injected").GetInt32() > 0, stdout);
        Assert.True(json.GetProperty("rolled_back").GetInt32() > 0, stdout);
        Assert.Equal(json.GetProperty("attempts").GetInt32(),
            json.GetProperty("completed").GetInt32() + json.GetProperty("rolled_back").GetInt32() + json.GetProperty("failed").GetInt32()
            + json.GetProperty("stuck").GetInt32() + json.GetProperty("refused_at_admission").GetInt32());
    }

    [Theory]
    [InlineData("--fault-rate", "1.5")]
    [InlineData("--migrations", "0")]
    [InlineData("--concurrency", "65")]
    [InlineData("--max-attempts", "0")]
    public async Task Bad_chaos_arguments_are_refused_naming_the_option(string option, string value)
    {
        var (code, _, stderr) = await ProcessRunner.RunAsync("dotnet", [RepoPaths.CliDll, "bench", "chaos", option, value], TimeSpan.FromMinutes(1));

        Assert.NotEqual(0, code);
        Assert.Contains(option, stderr, StringComparison.Ordinal);
    }
}
