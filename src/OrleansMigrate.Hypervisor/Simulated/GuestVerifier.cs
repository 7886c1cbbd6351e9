using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// Checks guest memory page by page against the content each page's stamp implies, rebuilds the generation
/// vector from the stamps, and compares it — exactly when the expected vector is at hand (the source checking
/// itself), else by digest and sum against the pause-time manifest that travelled in device state.
/// </summary>
internal static class GuestVerifier
{
    private const int MaxProblems = 32;

    /// <summary>Digest of a generation vector (XxHash3 over its little-endian bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ulong Digest(ReadOnlySpan<uint> generations) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(generations));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ulong Sum(ReadOnlySpan<uint> generations)
    {
        ulong sum = 0;
        foreach (var generation in generations)
            sum += generation;
        return sum;
    }

    /// <param name="memory">Guest memory; no thread may write it during the check.</param>
    /// <param name="classes">Page classes.</param>
    /// <param name="seed">Content seed.</param>
    /// <param name="manifest">The state at pause (null when there is none, e.g. a guest that never migrated).</param>
    /// <param name="expectedGenerations">The exact expected vector, when known; enables per-page stale detection.</param>
    /// <param name="sessions">The session table to compare with the manifest's digest.</param>
    /// <param name="rebuilt">Receives the generation vector read from the stamps.</param>
    public static ConsistencyReport Verify(GuestMemory memory, PageClass[] classes, ulong seed, SimulatedDeviceState? manifest, ReadOnlySpan<uint> expectedGenerations, SessionTable? sessions, Span<uint> rebuilt)
    {
        var problems = new List<PageProblem>();
        long corrupt = 0;
        long misplaced = 0;
        long stale = 0;
        Span<byte> scratch = stackalloc byte[GuestMemory.PageSize];
        for (var page = 0; page < memory.PageCount; page++)
        {
            var check = PageContent.Check(memory.Page(page), page, classes[page], seed, scratch, out var generation);
            rebuilt[page] = generation;
            switch (check)
            {
                case PageProblemCheck.Corrupt:
                    corrupt++;
                    Add(problems, page, PageProblemKind.Corrupt, $"content does not derive from its stamp (class {classes[page]}, stamped generation {generation})");
                    continue;
                case PageProblemCheck.Misplaced:
                    misplaced++;
                    Add(problems, page, PageProblemKind.Misplaced, "stamp names another page");
                    continue;
            }

            if (!expectedGenerations.IsEmpty && expectedGenerations[page] != generation)
            {
                stale++;
                Add(problems, page, PageProblemKind.Stale, $"generation {generation}, expected {expectedGenerations[page]}");
            }
        }

        var digestMatches = true;
        var deviceValid = manifest is not null;
        var sessionsMatch = true;
        if (manifest is not null)
        {
            digestMatches = Digest(rebuilt) == manifest.GenerationDigest && Sum(rebuilt) == manifest.GenerationSum && manifest.GenerationSum == (ulong)manifest.PassCounter;
            deviceValid = manifest.PageCount == memory.PageCount && manifest.Seed == seed;
            if (sessions is not null)
                sessionsMatch = sessions.ComputeDigest() == manifest.Sessions;
        }
        else if (!expectedGenerations.IsEmpty)
        {
            digestMatches = stale == 0;
            deviceValid = true;
        }

        var consistent = corrupt == 0 && misplaced == 0 && stale == 0 && digestMatches && deviceValid && sessionsMatch;
        var summary = consistent
            ? $"consistent: {memory.PageCount} pages, generation digest and session table match"
            : $"INCONSISTENT: {corrupt} corrupt, {misplaced} misplaced, {stale} stale pages; generation digest {(digestMatches ? "matches" : "differs")}; device state {(deviceValid ? "valid" : "invalid")}; session table {(sessionsMatch ? "matches" : "differs")}";
        return new ConsistencyReport(consistent, memory.PageCount, corrupt, misplaced, stale, digestMatches, deviceValid, sessionsMatch, problems, summary);
    }

    private static void Add(List<PageProblem> problems, int page, PageProblemKind kind, string detail)
    {
        if (problems.Count < MaxProblems)
            problems.Add(new PageProblem(page, kind, detail));
    }
}
