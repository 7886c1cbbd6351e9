namespace OrleansMigrate.Grains.Faults;

/// <summary>
/// The seam through which faults reach every component action and data-plane step: each action calls
/// <see cref="BeforeAsync"/> with its step name (e.g. <c>disk.promote</c>) just before doing its work.
/// An injector may throw (the action fails), delay (it runs slow or stalls), or do nothing.
/// Production uses <see cref="NoFaults"/>.
/// </summary>
public interface IFaultInjector
{
    /// <param name="step">Stable step name, <c>component.action</c>; see <see cref="FaultSteps"/>.</param>
    /// <param name="subject">What the step acts on (disk id, IP, VM id), for targeted faults.</param>
    ValueTask BeforeAsync(string step, string subject, CancellationToken cancellationToken = default);
}
