using System.Text.Json;
using OrleansMigrate.Hypervisor.Linux;

namespace OrleansMigrate.Lab;

/// <summary>
/// <c>ip</c> (iproute2) through <see cref="HostCommand"/>, inside a namespace with <c>ip -n NS</c> (iproute2 joins it
/// itself: one process, no <c>ip netns exec</c>), with the few answers the lab reads back as JSON (<c>ip -j</c>).
/// </summary>
public static class Ip
{
    /// <summary>Runs <c>ip [-n netns] args</c>; a non-zero exit throws <see cref="HostCommandException"/> with ip's message.</summary>
    public static Task<HostCommandResult> RunAsync(string? netns, IReadOnlyList<string> args, CancellationToken cancellationToken = default) =>
        HostCommand.RunAsync("ip", Arguments(netns, args), cancellationToken: cancellationToken);

    /// <summary>Runs <c>ip [-n netns] args</c> and returns the result whatever the exit code.</summary>
    public static Task<HostCommandResult> TryRunAsync(string? netns, IReadOnlyList<string> args, CancellationToken cancellationToken = default) =>
        HostCommand.TryRunAsync("ip", Arguments(netns, args), cancellationToken: cancellationToken);

    /// <summary>Runs a change that may already hold: an exit whose message contains one of <paramref name="alreadyHolds"/>
    /// (e.g. "File exists", "No such file") counts as done. Returns whether this call changed anything.</summary>
    public static async Task<bool> RunIdempotentAsync(string? netns, IReadOnlyList<string> args, IReadOnlyList<string> alreadyHolds, CancellationToken cancellationToken = default)
    {
        var result = await TryRunAsync(netns, args, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode == 0)
            return true;
        if (alreadyHolds.Any(text => result.Stderr.Contains(text, StringComparison.OrdinalIgnoreCase)))
            return false;
        throw new HostCommandException($"{HostCommand.Describe("ip", Arguments(netns, args))}: exit {result.ExitCode}: {result.Stderr}", result.ExitCode, result.Stderr);
    }

    /// <summary>Whether link <paramref name="name"/> exists in <paramref name="netns"/>.</summary>
    public static async Task<bool> LinkExistsAsync(string? netns, string name, CancellationToken cancellationToken = default) =>
        (await TryRunAsync(netns, ["link", "show", "dev", name], cancellationToken).ConfigureAwait(false)).ExitCode == 0;

    /// <summary>The names of the links in <paramref name="netns"/>.</summary>
    public static async Task<IReadOnlyList<string>> LinkNamesAsync(string? netns, CancellationToken cancellationToken = default)
    {
        var result = await RunAsync(netns, ["-j", "link", "show"], cancellationToken).ConfigureAwait(false);
        return [.. Parse(result.Stdout).Select(e => e.GetProperty("ifname").GetString()!)];
    }

    /// <summary>The IPv4 addresses of <paramref name="netns"/> as <c>dev address/len</c> (of one device when given).</summary>
    public static async Task<IReadOnlyList<string>> AddressesAsync(string? netns, string? device = null, CancellationToken cancellationToken = default)
    {
        var result = await RunAsync(netns, device is null ? ["-j", "-4", "addr", "show"] : ["-j", "-4", "addr", "show", "dev", device], cancellationToken).ConfigureAwait(false);
        var list = new List<string>();
        foreach (var link in Parse(result.Stdout))
        {
            var name = link.GetProperty("ifname").GetString();
            if (!link.TryGetProperty("addr_info", out var infos))
                continue;
            foreach (var info in infos.EnumerateArray())
                list.Add($"{name} {info.GetProperty("local").GetString()}/{info.GetProperty("prefixlen").GetInt32()}");
        }

        return list;
    }

    /// <summary>The route for exactly <c>ip/32</c> in <paramref name="table"/> (null: main), or null when there is none.</summary>
    public static async Task<IpRoute?> RouteAsync(string? netns, string ip, int? table = null, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<string> args = table is { } t
            ? ["-j", "route", "show", "table", t.ToString(System.Globalization.CultureInfo.InvariantCulture), "exact", ip + "/32"]
            : ["-j", "route", "show", "exact", ip + "/32"];
        var result = await TryRunAsync(netns, args, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            // A table nothing was ever put in does not exist yet: it holds no route.
            if (result.Stderr.Contains("table does not exist", StringComparison.OrdinalIgnoreCase))
                return null;
            throw new HostCommandException($"{HostCommand.Describe("ip", Arguments(netns, args))}: exit {result.ExitCode}: {result.Stderr}", result.ExitCode, result.Stderr);
        }

        var route = Parse(result.Stdout).FirstOrDefault();
        if (route.ValueKind != JsonValueKind.Object)
            return null;
        return new IpRoute(
            route.TryGetProperty("dev", out var dev) ? dev.GetString() : null,
            route.TryGetProperty("gateway", out var via) ? via.GetString() : null);
    }

    private static List<JsonElement> Parse(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
            return [];
        using var document = JsonDocument.Parse(json);
        return [.. document.RootElement.EnumerateArray().Select(e => e.Clone())];
    }

    private static List<string> Arguments(string? netns, IReadOnlyList<string> args) =>
        netns is null ? [.. args] : ["-n", netns, .. args];
}

/// <summary>Where a route sends packets: out of <paramref name="Device"/>, via <paramref name="Via"/> when it has a gateway.</summary>
public sealed record IpRoute(string? Device, string? Via);
