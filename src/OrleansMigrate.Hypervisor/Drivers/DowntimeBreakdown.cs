namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>
/// Downtime (source pause request to destination resume) and where it went. Steps are in ms and overlap
/// where the pipeline overlaps them (frames are built while earlier ones are on the wire), so they are
/// measured between successive milestones and add up to <see cref="TotalMs"/>.
/// </summary>
/// <param name="TotalMs">Source pause request → destination resumed.</param>
/// <param name="PauseMs">Pause request → every guest thread stopped.</param>
/// <param name="WaitForFinalCopyMs">Paused → the orchestrator called the final copy.</param>
/// <param name="FinalPagesMs">Final copy start → last page frame on the wire (harvest, build, compress, pacing).</param>
/// <param name="SessionDeltaMs">→ last session-delta frame on the wire.</param>
/// <param name="DeviceStateMs">→ device-state frame on the wire.</param>
/// <param name="LinkDrainMs">→ end marker sent once the emulated link carried every byte.</param>
/// <param name="DestinationApplyMs">End marker sent → destination applied everything.</param>
/// <param name="ResumeMs">Destination ready → destination resumed.</param>
/// <param name="FinalPages">Pages in the final copy (zero pages included).</param>
/// <param name="FinalZeroPages">Zero markers in the final copy.</param>
/// <param name="FinalRawBytes">Uncompressed page payload bytes.</param>
/// <param name="FinalWireBytes">Wire bytes of the whole final copy.</param>
/// <param name="CompressedBytes">Wire bytes of page frames that went compressed.</param>
/// <param name="DeviceStateBytes">Device-state blob size.</param>
/// <param name="SessionDeltaEntries">Session delta records in the final copy.</param>
/// <param name="SessionDeltaBytes">Their uncompressed size.</param>
public sealed record DowntimeBreakdown(
    double TotalMs,
    double PauseMs,
    double WaitForFinalCopyMs,
    double FinalPagesMs,
    double SessionDeltaMs,
    double DeviceStateMs,
    double LinkDrainMs,
    double DestinationApplyMs,
    double ResumeMs,
    long FinalPages,
    long FinalZeroPages,
    long FinalRawBytes,
    long FinalWireBytes,
    long CompressedBytes,
    int DeviceStateBytes,
    int SessionDeltaEntries,
    int SessionDeltaBytes)
{
    /// <summary>Builds the breakdown from the milestones both sides report (same host clock).</summary>
    public static DowntimeBreakdown From(PreSwitchoverInfo pause, FinalCopyResult final, IncomingResult received, ResumeResult resumed, long timestampFrequency)
    {
        ArgumentNullException.ThrowIfNull(pause);
        ArgumentNullException.ThrowIfNull(final);
        ArgumentNullException.ThrowIfNull(received);
        ArgumentNullException.ThrowIfNull(resumed);
        double Ms(long from, long to) => (to - from) * 1000.0 / timestampFrequency;
        return new DowntimeBreakdown(
            TotalMs: Ms(pause.PauseRequestedTimestamp, resumed.ResumedTimestamp),
            PauseMs: Ms(pause.PauseRequestedTimestamp, pause.PausedTimestamp),
            WaitForFinalCopyMs: Ms(pause.PausedTimestamp, final.StartedTimestamp),
            FinalPagesMs: Ms(final.StartedTimestamp, final.PagesWrittenTimestamp),
            SessionDeltaMs: Ms(final.PagesWrittenTimestamp, final.SessionDeltaWrittenTimestamp),
            DeviceStateMs: Ms(final.SessionDeltaWrittenTimestamp, final.DeviceStateWrittenTimestamp),
            LinkDrainMs: Ms(final.DeviceStateWrittenTimestamp, final.EndWrittenTimestamp),
            DestinationApplyMs: Ms(final.EndWrittenTimestamp, received.ReceivedTimestamp),
            ResumeMs: Ms(received.ReceivedTimestamp, resumed.ResumedTimestamp),
            FinalPages: final.Pages,
            FinalZeroPages: final.ZeroPages,
            FinalRawBytes: final.RawBytes,
            FinalWireBytes: final.WireBytes,
            CompressedBytes: final.CompressedBytes,
            DeviceStateBytes: final.DeviceStateBytes,
            SessionDeltaEntries: final.SessionDeltaEntries,
            SessionDeltaBytes: final.SessionDeltaBytes);
    }
}
