namespace OrleansMigrate.Api.Security;

/// <summary>
/// The three roles and the three authorization policies the endpoints use. Roles are nested: a cloud service may do what
/// a viewer may, an operator everything.
/// </summary>
public static class ApiRoles
{
    public const string Viewer = "viewer";
    public const string CloudService = "cloud-service";
    public const string Operator = "operator";

    public static IReadOnlyList<string> All { get; } = [Viewer, CloudService, Operator];

    /// <summary>Reads: hosts, VMs, migrations, policies, events.</summary>
    public const string ReadPolicy = "omig-read";

    /// <summary>A cloud service's writes: create/delete VMs, request migrations.</summary>
    public const string CloudPolicy = "omig-cloud";

    /// <summary>Operator-only: hosts, cordon, cancel, audit, the audit log.</summary>
    public const string OperatorPolicy = "omig-operator";
}
