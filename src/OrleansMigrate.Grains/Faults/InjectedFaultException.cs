namespace OrleansMigrate.Grains.Faults;

/// <summary>Thrown by a fault injector in place of a component's real failure.</summary>
[GenerateSerializer]
[Alias("omig.InjectedFaultException")]
public sealed class InjectedFaultException(string step, string subject)
    : Exception($"injected fault at {step} ({subject})")
{
    [Id(0)] public string Step { get; private set; } = step;

    [Id(1)] public string Subject { get; private set; } = subject;
}
