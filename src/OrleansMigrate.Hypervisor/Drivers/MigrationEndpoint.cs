namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>A TCP endpoint of an incoming migration: the address the destination bound and its port.</summary>
/// <param name="Host">IP address or host name the source connects to.</param>
/// <param name="Port">TCP port, 1..65535.</param>
public sealed record MigrationEndpoint(string Host, int Port)
{
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
