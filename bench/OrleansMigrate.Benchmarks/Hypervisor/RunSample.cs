using OrleansMigrate.Hypervisor.Drivers;

namespace OrleansMigrate.Hypervisor.Bench;

/// <summary>The figures of one measured migration.</summary>
internal sealed record RunSample(
    bool Succeeded,
    bool Consistent,
    string? Detail,
    double DowntimeMs,
    double TotalMs,
    long BytesSent,
    double CpuSeconds,
    double BulkBytesPerSecond,
    long CompressedBytes,
    long CompressedRawBytes,
    long FinalPages,
    long FinalWireBytes,
    int Rounds,
    double PreLastCopyMs,
    SwitchoverReason? Reason,
    PreLastCopyVerdict? FinalVerdict,
    DowntimeBreakdown? Breakdown)
{
    /// <summary>The downtime steps in ms, by JSON name.</summary>
    public Dictionary<string, double> Steps() => Breakdown is not { } b
        ? []
        : new()
        {
            ["pause"] = b.PauseMs,
            ["wait_for_final_copy"] = b.WaitForFinalCopyMs,
            ["final_pages"] = b.FinalPagesMs,
            ["session_delta"] = b.SessionDeltaMs,
            ["device_state"] = b.DeviceStateMs,
            ["link_drain"] = b.LinkDrainMs,
            ["destination_apply"] = b.DestinationApplyMs,
            ["resume"] = b.ResumeMs,
        };

    public static RunSample From(MigrationReport report) => new(
        true,
        report.Consistency?.Consistent == true,
        report.Consistency?.Summary,
        report.Downtime.TotalMs,
        report.TotalMs,
        report.Source.BytesSent,
        report.CompressionCpuSeconds,
        report.Source.BulkCopyBytesPerSecond,
        report.Source.CompressedWireBytes,
        report.Source.CompressedRawBytes,
        report.Downtime.FinalPages,
        report.Downtime.FinalWireBytes,
        report.Rounds.Count,
        report.PreLastCopyMs,
        report.SwitchoverReason,
        report.PreLastCopyDecisions.Count > 0 ? report.PreLastCopyDecisions[^1].Verdict : null,
        report.Downtime);

    public static RunSample Failed(string detail) => new(false, false, detail, double.NaN, double.NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, null, null, null);
}
