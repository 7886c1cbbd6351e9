using OrleansMigrate.Hypervisor.Linux;

namespace OrleansMigrate.Hypervisor.Tests.Sessions.Conntrack;

/// <summary>Network namespaces a conntrack test makes, all named <c>omc{id}-…</c> (this suite's prefix) and removed
/// by name on dispose, even after a failure.</summary>
internal sealed class OmcLab : IDisposable
{
    private static int _counter;
    private readonly List<string> _namespaces = [];

    public OmcLab() => Id = $"omc{(Environment.ProcessId % 100) * 10 + (Interlocked.Increment(ref _counter) % 10)}";

    /// <summary>The name stem, e.g. <c>omc473</c>; interface names stay under 15 characters with a 4-character suffix.</summary>
    public string Id { get; }

    /// <summary>Makes namespace <c>{Id}-{suffix}</c> with lo up and returns its name.</summary>
    public string Namespace(string suffix, bool eventsOn = false, bool strictTcp = false)
    {
        var name = $"{Id}-{suffix}";
        _ = HostCommand.TryRunAsync("ip", ["netns", "del", name]).GetAwaiter().GetResult();
        Run("ip", "netns", "add", name);
        _namespaces.Add(name);
        Run("ip", "-n", name, "link", "set", "lo", "up");
        if (eventsOn)
            Sysctl(name, "net.netfilter.nf_conntrack_events=1");
        if (strictTcp)
            Sysctl(name, "net.netfilter.nf_conntrack_tcp_loose=0");
        return name;
    }

    public static void Sysctl(string ns, string setting) => Run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", setting);

    public static string Run(string program, params string[] args) =>
        HostCommand.RunAsync(program, args).GetAwaiter().GetResult().Stdout;

    public static string In(string ns, string program, params string[] args) =>
        HostCommand.RunAsync(program, args, netns: ns).GetAwaiter().GetResult().Stdout;

    public static HostCommandResult TryIn(string ns, string program, params string[] args) =>
        HostCommand.TryRunAsync(program, args, netns: ns).GetAwaiter().GetResult();

    public void Dispose()
    {
        foreach (var ns in _namespaces)
            _ = HostCommand.TryRunAsync("ip", ["netns", "del", ns]).GetAwaiter().GetResult();
    }
}
