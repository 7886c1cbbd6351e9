using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Tests.Drivers;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class MigrationPredictorTests
{
    private const long MiB = 1 << 20;

    private static MigrationPredictionInput Input(long memoryMiB, double dirtyMBps, double linkMBps, bool preLastCopy = true, PreCopyLimitAction limit = PreCopyLimitAction.ForceSwitchover) => new()
    {
        MemoryBytes = memoryMiB * MiB,
        DirtyBytesPerSecond = dirtyMBps * 1e6,
        ZeroPageFraction = 0.3,
        CompressionRatio = 0.45,
        Options = new MigrationOptions
        {
            LinkBandwidthBytesPerSecond = (long)(linkMBps * 1e6),
            PreLastCopy = new PreLastCopyOptions { Enabled = preLastCopy },
            LimitAction = limit,
        },
    };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TotalTimeGrowsWithTheDirtyRate(bool preLastCopy)
    {
        var previous = 0.0;
        for (var dirty = 0.0; dirty <= 90; dirty += 2.5)
        {
            var prediction = MigrationPredictor.Predict(Input(256, dirty, 100, preLastCopy));
            Assert.True(prediction.TotalMs >= previous, $"total {prediction.TotalMs} ms at {dirty} MB/s is below {previous} ms at the previous rate");
            previous = prediction.TotalMs;
        }
    }

    /// <remarks>
    /// Downtime is not monotonic in the dirty rate for a converging migration, in the engine as in the model: where
    /// pre-copy stops depends on which round first fits the target (a slightly higher rate can need one more round
    /// and leave fewer pages). What holds is the engine's contract: a converging migration's final copy fits the
    /// target, so downtime stays under it plus the fixed switchover cost.
    /// </remarks>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DowntimeOfAConvergingMigrationStaysUnderTheTargetPlusTheFixedCost(bool preLastCopy)
    {
        for (var dirty = 0.0; dirty <= 90; dirty += 2.5)
        {
            var input = Input(256, dirty, 100, preLastCopy);
            var prediction = MigrationPredictor.Predict(input);
            if (!prediction.ConvergesWithoutThrottling)
                continue;
            var bound = input.Options.DowntimeTargetMs + input.Calibration.DowntimeFixedMs + (input.Calibration.DowntimePerGiBMs * 0.25);
            Assert.True(prediction.DowntimeMs <= bound, $"downtime {prediction.DowntimeMs} ms at {dirty} MB/s exceeds {bound} ms");
            Assert.True(prediction.DowntimeWithinTarget);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WithoutConvergenceDowntimeGrowsWithTheDirtyRate(bool preLastCopy)
    {
        var previous = 0.0;
        for (var dirty = 100.0; dirty <= 400; dirty += 25)
        {
            var prediction = MigrationPredictor.Predict(Input(1024, dirty, 100, preLastCopy));
            Assert.Equal(MigrationPredictionOutcome.ForcedSwitchover, prediction.Outcome);
            Assert.True(prediction.DowntimeMs >= previous, $"downtime {prediction.DowntimeMs} ms at {dirty} MB/s is below {previous} ms at the previous rate");
            previous = prediction.DowntimeMs;
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(20)]
    [InlineData(60)]
    public void TotalTimeGrowsWithMemory(double dirtyMBps)
    {
        var previous = 0.0;
        foreach (var mib in new long[] { 16, 64, 128, 512, 1024, 4096 })
        {
            var prediction = MigrationPredictor.Predict(Input(mib, dirtyMBps, 200));
            Assert.True(prediction.TotalMs > previous, $"total {prediction.TotalMs} ms at {mib} MiB is not above {previous} ms");
            previous = prediction.TotalMs;
        }
    }

    [Fact]
    public void AnIdleGuestsDowntimeGrowsWithMemory()
    {
        var previous = 0.0;
        foreach (var mib in new long[] { 16, 64, 128, 512, 1024, 4096 })
        {
            var prediction = MigrationPredictor.Predict(Input(mib, 0, 200));
            Assert.True(prediction.DowntimeMs > previous, $"downtime {prediction.DowntimeMs} ms at {mib} MiB is not above {previous} ms");
            previous = prediction.DowntimeMs;
        }
    }

    [Theory]
    [InlineData(100, 100)]
    [InlineData(150, 100)]
    [InlineData(1000, 125)]
    public void DirtyRateAtOrAboveTheBandwidthDoesNotConverge(double dirtyMBps, double linkMBps)
    {
        var forced = MigrationPredictor.Predict(Input(1024, dirtyMBps, linkMBps));

        Assert.False(forced.ConvergesWithoutThrottling);
        Assert.Equal(MigrationPredictionOutcome.ForcedSwitchover, forced.Outcome);
        Assert.Contains(forced.SwitchoverReason, new[] { SwitchoverReason.RoundLimit, SwitchoverReason.TimeLimit });
        Assert.InRange(forced.Rounds, 2, 30);
        Assert.True(forced.DirtyToLinkRatio >= 1);
        Assert.False(forced.DowntimeWithinTarget);
        Assert.Contains("does not converge", forced.Reason, StringComparison.Ordinal);

        var failing = MigrationPredictor.Predict(Input(1024, dirtyMBps, linkMBps, limit: PreCopyLimitAction.Fail));
        Assert.Equal(MigrationPredictionOutcome.Fails, failing.Outcome);
        Assert.True(double.IsNaN(failing.DowntimeMs));
    }

    [Fact]
    public void ASmallHotSetConvergesEvenAboveTheBandwidth()
    {
        // 200 MB/s into 1 MiB: every round resends at most 256 pages (~10 ms at 100 MB/s), under the 20 ms target.
        var prediction = MigrationPredictor.Predict(Input(1024, 200, 100) with { WorkingSetBytes = 1 * MiB });

        Assert.True(prediction.ConvergesWithoutThrottling, prediction.Reason);
        Assert.True(prediction.FinalCopyPages <= 256);
    }

    [Fact]
    public void AnIdleGuestTakesOneRoundAndItsDowntimeIsTheOverhead()
    {
        var input = Input(512, 0, 200);
        var prediction = MigrationPredictor.Predict(input);
        var calibration = input.Calibration;
        var link = 200e6 * calibration.LinkEfficiency;

        Assert.Equal(MigrationPredictionOutcome.Converges, prediction.Outcome);
        Assert.Equal(1, prediction.Rounds);
        Assert.Equal(0, prediction.FinalCopyPages);
        var overhead = calibration.DowntimeFixedMs + (calibration.DowntimePerGiBMs * 0.5) + (calibration.FinalCopyBaseBytes / link * 1000);
        Assert.Equal(overhead, prediction.DowntimeMs, 6);
        // The bulk round carries the non-zero pages: 70 % of 512 MiB over the link.
        var bulkMs = 512 * MiB * 0.7 / link * 1000;
        Assert.InRange(prediction.PreCopyMs, bulkMs, bulkMs * 1.02);
        // The stage observes for its window, polling an idle guest.
        Assert.InRange(prediction.PreLastCopyMs, 30, 30 + 1 + calibration.PollOvershootMs + 1);
    }

    [Fact]
    public void AnUncappedLinkUsesTheEnginesThroughput()
    {
        var prediction = MigrationPredictor.Predict(Input(1024, 50, 0));

        Assert.Equal(PredictorCalibration.Simulated.MaxCopyBytesPerSecond, prediction.EffectiveBandwidthBytesPerSecond);
        Assert.True(prediction.ConvergesWithoutThrottling);
    }

    [Fact]
    public void LongLimitsDoNotMakeThePredictionSpin()
    {
        var options = new MigrationOptions
        {
            LinkBandwidthBytesPerSecond = 100_000_000,
            MaxRounds = 100_000,
            MaxPreCopyMs = 86_400_000,
            PreLastCopy = new PreLastCopyOptions { MaxWaitMs = 600_000, PollIntervalMs = 0 },
        };
        var hot = MigrationPredictor.Predict(new MigrationPredictionInput { MemoryBytes = 1024 * MiB, DirtyBytesPerSecond = 500e6, Options = options });
        var idle = MigrationPredictor.Predict(new MigrationPredictionInput { MemoryBytes = 1024 * MiB, DirtyBytesPerSecond = 0, Options = options, Calibration = PredictorCalibration.Simulated with { RoundOverheadMs = 0 } });

        // Rounds of a whole GiB at 100 MB/s: the day-long time limit ends pre-copy after about 8000 of them.
        Assert.Equal(MigrationPredictionOutcome.ForcedSwitchover, hot.Outcome);
        Assert.Equal(SwitchoverReason.TimeLimit, hot.SwitchoverReason);
        Assert.True(hot.PreCopyMs >= 86_400_000);
        Assert.Equal(1, idle.Rounds);
        Assert.True(idle.PreLastCopyMs >= 30);
    }

    [Fact]
    public void ASampleFeedsThePrediction()
    {
        var sample = new DirtyRateSample("vm", DirtyRateMethods.SimulatedCounters, 30e6, 500, 128 * MiB, 14 * MiB, 64 * MiB, 0.3, 0.4, null);
        var options = new MigrationOptions { LinkBandwidthBytesPerSecond = 200_000_000 };

        var input = MigrationPredictionInput.From(sample, options);
        var prediction = MigrationPredictor.Predict(sample, options);

        Assert.Equal((128 * MiB, 30e6, 64 * MiB, 0.3, 0.4), (input.MemoryBytes, input.DirtyBytesPerSecond, input.WorkingSetBytes, input.ZeroPageFraction, input.CompressionRatio));
        Assert.Equal(MigrationPredictor.Predict(input), prediction);
        Assert.True(prediction.ConvergesWithoutThrottling, prediction.Reason);
    }

    [Fact]
    public void InputsOutOfRangeAreRejected()
    {
        Assert.Throws<ArgumentException>(() => MigrationPredictor.Predict(Input(64, -1, 100)));
        Assert.Throws<ArgumentException>(() => MigrationPredictor.Predict(Input(64, 10, 100) with { MemoryBytes = 0 }));
        Assert.Throws<ArgumentException>(() => MigrationPredictor.Predict(Input(64, 10, 100) with { ZeroPageFraction = 1.5 }));
        Assert.Throws<ArgumentException>(() => MigrationPredictor.Predict(Input(64, 10, 100) with { CompressionRatio = 0 }));
        Assert.Throws<ArgumentException>(() => MigrationPredictor.Predict(Input(64, 10, 100) with { Calibration = PredictorCalibration.Simulated with { LinkEfficiency = 0 } }));
    }

    [Theory]
    [InlineData(16_384, 10_000)]
    [InlineData(16_384, 60_000)]
    [InlineData(262_144, 50_000)]
    public void TheWorkingSetIsRecoveredFromRepeatWrites(long setPages, long writes)
    {
        var distinct = (long)Math.Round(setPages * -double.ExpM1(-writes / (double)setPages));

        var estimate = DirtyRateSampler.EstimateWorkingSetPages(writes, distinct, 1 << 20);

        Assert.NotNull(estimate);
        Assert.InRange(estimate.Value, setPages * 0.97, setPages * 1.03);
    }

    [Fact]
    public void TooFewRepeatWritesLeaveTheWorkingSetUnknown()
    {
        Assert.Null(DirtyRateSampler.EstimateWorkingSetPages(1000, 1000, 1 << 20));
        Assert.Null(DirtyRateSampler.EstimateWorkingSetPages(0, 0, 1 << 20));
        Assert.Equal(4096, DirtyRateSampler.EstimateWorkingSetPages(100_000, 4096, 4096));
    }
}
