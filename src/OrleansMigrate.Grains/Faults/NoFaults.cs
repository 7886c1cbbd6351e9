namespace OrleansMigrate.Grains.Faults;

public sealed class NoFaults : IFaultInjector
{
    public static readonly NoFaults Instance = new();

    public ValueTask BeforeAsync(string step, string subject, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
}
