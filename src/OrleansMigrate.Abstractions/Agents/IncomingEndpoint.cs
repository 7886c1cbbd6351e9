namespace OrleansMigrate.Agents;

/// <summary>Where the source's migration stream must connect.</summary>
/// <param name="Host">Address the destination's hypervisor listens on.</param>
/// <param name="Port">Its port.</param>
/// <param name="AgentHost">The destination host's id, so the source's agent can reach its agent (the session rounds); null
/// from agents older than the field.</param>
/// <param name="SessionsAddress">Set when the destination copies the VM's session table through the hosts' real conntrack
/// (<c>Cloud:Sessions:Backend=conntrack</c>): the VM's IPv4 address, whose entries the source sends in rounds; the
/// destination resumes only after the final one. Null: no session rounds.</param>
[GenerateSerializer, Immutable]
[Alias("omig.IncomingEndpoint")]
public sealed record IncomingEndpoint(
    [property: Id(0)] string Host,
    [property: Id(1)] int Port,
    [property: Id(2)] string? AgentHost = null,
    [property: Id(3)] string? SessionsAddress = null);
