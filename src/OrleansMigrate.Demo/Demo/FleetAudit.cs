using OrleansMigrate.Client;

namespace OrleansMigrate.Cli.Demo;

/// <summary>The demo's audit: <see cref="FleetAuditor"/>, as lines of text.</summary>
public static class FleetAudit
{
    public static async Task<IReadOnlyList<string>> CheckAsync(OmigClient client) =>
        [.. (await FleetAuditor.AuditAsync(client)).Findings.Select(f => $"{f.Invariant}: {f.Subject}: {f.Detail}")];
}
