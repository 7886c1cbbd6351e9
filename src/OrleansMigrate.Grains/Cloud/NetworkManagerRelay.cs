namespace OrleansMigrate.Grains.Cloud;

/// <summary>A relay route as <see cref="SimulatedNetworkManagerBackend"/> holds it.</summary>
public sealed record NetworkManagerRelay(string FromHost, string ToHost, bool Enabled);
