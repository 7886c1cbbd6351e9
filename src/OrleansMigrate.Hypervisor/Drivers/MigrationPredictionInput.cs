namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>What <see cref="MigrationPredictor.Predict(MigrationPredictionInput)"/> needs: the guest, its dirtying, the link and the policy.</summary>
public sealed record MigrationPredictionInput
{
    /// <summary>Guest memory in bytes (&gt; 0, multiple of 4 KiB not required).</summary>
    public required long MemoryBytes { get; init; }

    /// <summary>Page writes × 4096 per second (bytes/s, ≥ 0), e.g. <see cref="DirtyRateSample.DirtyBytesPerSecond"/>.</summary>
    public required double DirtyBytesPerSecond { get; init; }

    /// <summary>Memory the guest writes to, in bytes; null = all of memory (the pessimistic case for a uniform writer).</summary>
    public long? WorkingSetBytes { get; init; }

    /// <summary>Share of all-zero pages (0..1): they cross the bulk round as a 4-byte marker.</summary>
    public double ZeroPageFraction { get; init; }

    /// <summary>LZ4 wire bytes / raw bytes of dirty pages (0..1) for compressed copies; null = 1 (no gain).</summary>
    public double? CompressionRatio { get; init; }

    /// <summary>Session-table changes per second (each a 40-byte delta record per round, distinct keys not modelled).</summary>
    public double SessionChangesPerSecond { get; init; }

    /// <summary>Device-state blob in bytes (sent in the final copy).</summary>
    public int DeviceStateBytes { get; init; } = 32 << 10;

    /// <summary>The migration's policy: link cap, downtime target, rounds and time limits, limit action, compression, pre-last-copy, switchover overhead.</summary>
    public MigrationOptions Options { get; init; } = new();

    /// <summary>The engine's fixed costs; <see cref="PredictorCalibration.Simulated"/> by default.</summary>
    public PredictorCalibration Calibration { get; init; } = PredictorCalibration.Simulated;

    /// <summary>Builds the input from a dirty-rate sample (working set, zero share and LZ4 ratio when the sample has them).</summary>
    public static MigrationPredictionInput From(DirtyRateSample sample, MigrationOptions options, PredictorCalibration? calibration = null)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(options);
        return new MigrationPredictionInput
        {
            MemoryBytes = sample.MemoryBytes,
            DirtyBytesPerSecond = sample.DirtyBytesPerSecond,
            WorkingSetBytes = sample.WorkingSetBytes,
            ZeroPageFraction = sample.ZeroPageFraction ?? 0,
            CompressionRatio = sample.CompressionRatio,
            Options = options,
            Calibration = calibration ?? PredictorCalibration.Simulated,
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field out of range.</summary>
    public void Validate()
    {
        if (MemoryBytes <= 0)
            throw new ArgumentException($"MemoryBytes must be positive, was {MemoryBytes}.", nameof(MemoryBytes));
        if (!double.IsFinite(DirtyBytesPerSecond) || DirtyBytesPerSecond < 0)
            throw new ArgumentException($"DirtyBytesPerSecond must be finite and ≥ 0, was {DirtyBytesPerSecond}.", nameof(DirtyBytesPerSecond));
        if (WorkingSetBytes is <= 0)
            throw new ArgumentException($"WorkingSetBytes must be positive when set, was {WorkingSetBytes}.", nameof(WorkingSetBytes));
        if (ZeroPageFraction is < 0 or > 1 || double.IsNaN(ZeroPageFraction))
            throw new ArgumentException($"ZeroPageFraction must be in 0..1, was {ZeroPageFraction}.", nameof(ZeroPageFraction));
        if (CompressionRatio is { } ratio && (ratio is <= 0 or > 1 || double.IsNaN(ratio)))
            throw new ArgumentException($"CompressionRatio must be in (0, 1], was {ratio}.", nameof(CompressionRatio));
        if (!double.IsFinite(SessionChangesPerSecond) || SessionChangesPerSecond < 0)
            throw new ArgumentException($"SessionChangesPerSecond must be finite and ≥ 0, was {SessionChangesPerSecond}.", nameof(SessionChangesPerSecond));
        if (DeviceStateBytes < 0)
            throw new ArgumentException($"DeviceStateBytes must be ≥ 0, was {DeviceStateBytes}.", nameof(DeviceStateBytes));
        ArgumentNullException.ThrowIfNull(Options);
        Options.Validate();
        ArgumentNullException.ThrowIfNull(Calibration);
        Calibration.Validate();
    }
}
