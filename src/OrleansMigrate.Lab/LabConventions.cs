namespace OrleansMigrate.Lab;

/// <summary>
/// The names, routing tables and rule priorities the lab (<see cref="LabTopology"/>), the VM NIC attachment
/// (<see cref="VmNicAttachment"/>) and the Linux network manager backend share, so each reads what the other wrote.
/// </summary>
/// <remarks>
/// Routing on a host namespace, highest priority first:
/// <list type="number">
/// <item><see cref="RelayRulePriority"/>: one rule per enabled relay, <c>to VMIP/32 lookup</c> <see cref="RelayTable"/> (the
/// staged route to the destination host over the overlay).</item>
/// <item><see cref="OverlayDeliveryRulePriority"/>: <c>iif vxN lookup</c> <see cref="VmNicTable"/>: a packet that came in over
/// the overlay for a VM whose NIC is attached here goes to its tap, whatever the main table says (another member sent it
/// here because it believes the VM runs here; never send it back out).</item>
/// <item>main: the VPC's flows (<c>VMIP/32 dev tap</c> on the owner, <c>VMIP/32 via owner dev vxN</c> elsewhere).</item>
/// </list>
/// </remarks>
public static class LabConventions
{
    /// <summary>Default lab prefix.</summary>
    public const string DefaultPrefix = "oml";

    /// <summary>Default VXLAN network identifier of the lab's VPC.</summary>
    public const int DefaultVni = 100;

    /// <summary>VXLAN UDP port.</summary>
    public const int VxlanPort = 4789;

    /// <summary>Routing table holding, per attached VM NIC, <c>VMIP/32 dev tap</c>.</summary>
    public const int VmNicTable = 200;

    /// <summary>Routing table holding staged relay routes, <c>VMIP/32 via destination dev vxN</c>.</summary>
    public const int RelayTable = 201;

    /// <summary>Priority of an enabled relay's rule.</summary>
    public const int RelayRulePriority = 800;

    /// <summary>Priority of the overlay delivery rule (after the relays).</summary>
    public const int OverlayDeliveryRulePriority = 900;

    /// <summary>Default VM gateway address the host answers for (on its loopback, so ARP for it is answered on every tap).</summary>
    public const string DefaultVmGateway = "172.30.0.1";

    /// <summary>The MAC every VM tap carries: the VPC gateway's one MAC on every host (a distributed gateway), so a guest's
    /// ARP entry for its gateway stays right when it moves to another host's tap. With a tap's own random MAC the guest
    /// keeps sending to the old host's MAC after a migration, the new tap drops those frames as not its own, and the VM is
    /// cut off until the guest's neighbour entry expires and is resolved again — seconds to tens of seconds.</summary>
    public const string VmGatewayMac = "fe:ff:ff:ff:ff:fe";

    /// <summary>The guest agent's UDP echo port.</summary>
    public const int GuestUdpEchoPort = 7007;

    /// <summary>The guest agent's TCP stream port.</summary>
    public const int GuestTcpStreamPort = 7008;

    /// <summary>The VXLAN device of VNI <paramref name="vni"/>: <c>vx{vni}</c>.</summary>
    public static string VxlanDevice(int vni) => $"vx{vni}";

    /// <summary>Namespace of host <paramref name="index"/> (1-based): <c>{prefix}-h{index}</c>.</summary>
    public static string HostNamespace(string prefix, int index) => $"{prefix}-h{index}";

    /// <summary>The client / VPC gateway namespace: <c>{prefix}-cl</c>.</summary>
    public static string ClientNamespace(string prefix) => $"{prefix}-cl";

    /// <summary>The storage namespace: <c>{prefix}-st</c>.</summary>
    public static string StorageNamespace(string prefix) => $"{prefix}-st";

    /// <summary>The underlay bridge in the root namespace: <c>{prefix}-ul</c>.</summary>
    public static string UnderlayBridge(string prefix) => $"{prefix}-ul";

    /// <summary>Whether <paramref name="prefix"/> is a lab prefix: 2–8 characters, a lower-case letter then lower-case letters and
    /// digits (so <c>{prefix}-h{n}</c> stays inside the kernel's 15-character interface names).</summary>
    public static bool IsValidPrefix(string? prefix) =>
        prefix is { Length: >= 2 and <= 8 } && char.IsAsciiLetterLower(prefix[0]) && prefix.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c));
}
