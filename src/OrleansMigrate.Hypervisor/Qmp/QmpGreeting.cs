using System.Text.Json.Nodes;

namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>The server's greeting: its version and the capabilities it offers (e.g. <c>oob</c>).</summary>
/// <param name="Version">The raw <c>version</c> object (<c>qemu.major/minor/micro</c>, <c>package</c>), or null.</param>
public sealed record QmpGreeting(JsonObject? Version, IReadOnlyList<string> Capabilities)
{
    internal static QmpGreeting FromFrame(QmpFrame frame)
    {
        var qmp = frame.Greeting!;
        var capabilities = new List<string>();
        if (qmp["capabilities"] is JsonArray array)
        {
            foreach (var item in array)
            {
                if (item is JsonValue value && value.TryGetValue<string>(out var name))
                    capabilities.Add(name);
            }
        }

        var version = qmp["version"] as JsonObject;
        if (version is not null)
            qmp.Remove("version");
        return new QmpGreeting(version, capabilities);
    }
}
