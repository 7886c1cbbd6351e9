namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Result of checking a guest's memory, device state and session table against the expected state.</summary>
/// <param name="Consistent">True when every check passed.</param>
/// <param name="PagesChecked">Pages examined.</param>
/// <param name="CorruptPages">Pages whose content does not derive from their stamp.</param>
/// <param name="MisplacedPages">Pages whose stamp names another index.</param>
/// <param name="StalePages">Pages of the wrong generation, when the full expected generation vector was available; otherwise 0 and <paramref name="GenerationDigestMatches"/> decides.</param>
/// <param name="GenerationDigestMatches">The digest and sum of the per-page generation vector match the source's at pause.</param>
/// <param name="DeviceStateValid">The device-state blob decoded, and its registers derive from the pause-time pass counter.</param>
/// <param name="SessionTableMatches">The session table's digest and count match the source's at pause.</param>
/// <param name="Problems">The first problems found (at most 32).</param>
/// <param name="Summary">One line for logs and the CLI.</param>
public sealed record ConsistencyReport(
    bool Consistent,
    long PagesChecked,
    long CorruptPages,
    long MisplacedPages,
    long StalePages,
    bool GenerationDigestMatches,
    bool DeviceStateValid,
    bool SessionTableMatches,
    IReadOnlyList<PageProblem> Problems,
    string Summary);
