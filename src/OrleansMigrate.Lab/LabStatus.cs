namespace OrleansMigrate.Lab;

/// <summary>A lab as read from the machine (<see cref="LabTopology.StatusAsync"/>).</summary>
/// <param name="StateFile">The state file, or null when there is none.</param>
/// <param name="Complete">Whether the recorded bring-up finished.</param>
/// <param name="Namespaces">Every existing namespace with the lab's prefix, with its IPv4 addresses.</param>
/// <param name="Processes">Recorded processes and whether each still runs in its namespace.</param>
public sealed record LabStatus(string Prefix, string? StateFile, bool Complete, IReadOnlyList<LabNamespaceStatus> Namespaces, IReadOnlyList<LabProcessStatus> Processes);

/// <summary>One namespace of a lab and its addresses (<c>dev address/len</c>).</summary>
public sealed record LabNamespaceStatus(string Name, IReadOnlyList<string> Addresses);

/// <summary>A recorded process and whether it is alive inside its namespace.</summary>
public sealed record LabProcessStatus(LabProcess Process, bool Running);
