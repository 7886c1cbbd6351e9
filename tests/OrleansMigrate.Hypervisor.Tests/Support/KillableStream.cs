namespace OrleansMigrate.Hypervisor.Tests.Support;

/// <summary>Test seam for <c>TransportWrapper</c>: lets a test drop the connection abruptly, as a dying host would.</summary>
internal sealed class KillableStream(Stream inner) : DelegatingStream(inner)
{
    /// <summary>Closes the underlying socket without any goodbye frame.</summary>
    public void Kill() => Inner.Dispose();
}
