namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>How a guest stopped for a cold move (<see cref="IHypervisorDriver.ShutdownVmAsync"/>).</summary>
/// <param name="Graceful">The guest powered off by itself after the ACPI power-down request; false: it did not within the
/// timeout and was stopped hard.</param>
/// <param name="Elapsed">Power-down request to stopped.</param>
public sealed record ShutdownResult(bool Graceful, TimeSpan Elapsed);
