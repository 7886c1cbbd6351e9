namespace OrleansMigrate.Errors;

/// <summary>
/// A host agent that cannot be reached, in our words. Orleans reports a dead or silent silo with its own exception types
/// and a text meant for Orleans developers (message dumps and a troubleshooting link); an operator needs which host,
/// which silo and what to do. Every caller that talks to a host agent maps those errors here, to an
/// <see cref="OmigException"/> with code <see cref="OmigErrorCode.Unavailable"/> and field <c>host</c>.
/// </summary>
public static class AgentErrors
{
    /// <summary>Whether <paramref name="ex"/> says the agent could not be reached (rather than that it answered with an
    /// error): its silo is down or not declared dead yet, the call timed out, the connection failed, or no live silo
    /// serves the host (the host-pinned placement's refusal).</summary>
    public static bool IsUnreachable(Exception ex) =>
        ex is OrleansMessageRejectionException or TimeoutException or Orleans.Runtime.Messaging.ConnectionFailedException
            or OmigException { Code: OmigErrorCode.Unavailable, Field: "host" };

    /// <summary>The error an unreachable agent of <paramref name="hostId"/> is reported as.</summary>
    /// <param name="silo">The silo that served the host when known, e.g. <c>silo silo-b at 127.0.0.1:11112</c>.</param>
    public static OmigException Unreachable(string hostId, Exception ex, string? silo = null) =>
        new(OmigErrorCode.Unavailable, "host", Describe(hostId, ex, silo));

    /// <summary>"host H's agent (silo …) is unreachable: why; what to do" — never Orleans' own message.</summary>
    public static string Describe(string hostId, Exception ex, string? silo = null)
    {
        var who = $"host {hostId}'s agent{(silo is { Length: > 0 } ? $" ({silo})" : "")} is unreachable";
        var remedy = $"start the silo that serves {hostId} again (omig-silo --hosts {hostId} …), or check 'omig cluster status'";
        return ex switch
        {
            // The placement's own refusal already names the remedy.
            OmigException { Code: OmigErrorCode.Unavailable, Field: "host" } o => $"{who}: {o.Reason}",
            OmigException o => $"{who}: {o.Message}",
            TimeoutException => $"{who}: it did not answer within the call timeout (its silo is down, overloaded or cut off); {remedy}",
            Orleans.Runtime.Messaging.ConnectionFailedException => $"{who}: the connection to its silo failed (the silo is down or cannot be reached on the network); {remedy}",
            _ => $"{who}: its silo does not answer (it is down, or the cluster has not declared it dead yet); {remedy}",
        };
    }
}
