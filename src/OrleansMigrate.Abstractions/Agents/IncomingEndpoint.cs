namespace OrleansMigrate.Agents;

/// <summary>Where the source's migration stream must connect.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.IncomingEndpoint")]
public sealed record IncomingEndpoint(
    [property: Id(0)] string Host,
    [property: Id(1)] int Port);
