namespace OrleansMigrate.Lab;

/// <summary>What a lab made, as its state file records it: written before each thing is made, so a lab that failed half
/// way is still removed whole.</summary>
public sealed class LabState
{
    public string Prefix { get; set; } = string.Empty;

    /// <summary>Network namespaces, in creation order.</summary>
    public List<string> Namespaces { get; set; } = [];

    /// <summary>Links in the root namespace (the bridge and the root ends of the veths), in creation order.</summary>
    public List<string> RootLinks { get; set; } = [];

    /// <summary>Processes started inside the lab's namespaces, stopped by PID at <see cref="LabTopology.DownAsync"/>.</summary>
    public List<LabProcess> Processes { get; set; } = [];

    /// <summary>Whether <see cref="LabTopology.UpAsync"/> finished.</summary>
    public bool Complete { get; set; }
}

/// <summary>A process recorded in a lab: its PID, the namespace it runs in and what it is.</summary>
public sealed record LabProcess(string Namespace, int Pid, string What);
