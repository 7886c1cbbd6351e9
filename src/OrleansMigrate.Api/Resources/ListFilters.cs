using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Api.Resources;

/// <summary>
/// The list filters <c>state</c> (one value of the resource's state enum, as the JSON spells it) and <c>changed_since</c>
/// (an RFC 3339 timestamp with its offset; only what changed strictly after it). A bad value is a 400 naming the parameter,
/// before anything is read.
/// </summary>
public static partial class ListFilters
{
    /// <summary>Migrations by phase; changed = created or any phase started or ended.</summary>
    public static async Task<IEnumerable<MigrationStatus>> MigrationsAsync(HttpContext context, OmigClient omig)
    {
        var phase = State<MigrationPhase>(context);
        var since = ChangedSince(context);
        var all = await omig.ListMigrationsAsync(includeEnded: true);
        return all.Where(m => (phase is null || m.Phase == phase) && (since is null || LastChange(m) > since));
    }

    /// <summary>VMs by power state. A VM's recorded changes are its creation and its migrations (their phases): a power
    /// change alone (stop, start) leaves no time in the record and so does not count as a change here.</summary>
    public static async Task<IEnumerable<VmRecord>> VmsAsync(HttpContext context, OmigClient omig)
    {
        var power = State<PowerState>(context);
        var since = ChangedSince(context);
        var vms = await omig.ListVmsAsync();
        if (since is null)
        {
            return vms.Where(v => power is null || v.Power == power);
        }

        var moved = (await omig.ListMigrationsAsync(includeEnded: true))
            .GroupBy(m => m.Request.VmId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Max(LastChange), StringComparer.Ordinal);
        return vms.Where(v => (power is null || v.Power == power)
            && (v.CreatedAt > since || (moved.TryGetValue(v.VmId, out var at) && at > since)));
    }

    public static DateTimeOffset LastChange(MigrationStatus m) =>
        m.Timeline.IsDefaultOrEmpty ? m.CreatedAt : new[] { m.CreatedAt }.Concat(m.Timeline.Select(s => s.EndedAt ?? s.StartedAt)).Max();

    private static T? State<T>(HttpContext context)
        where T : struct, Enum
    {
        if (!context.Request.Query.TryGetValue("state", out var values))
        {
            return null;
        }

        var names = Enum.GetValues<T>().ToDictionary(v => Naming.EnumNames.Of(v), StringComparer.Ordinal);
        if (values.Count == 1 && values[0] is { } text && names.TryGetValue(text, out var state))
        {
            return state;
        }

        throw new ApiProblemException(ApiProblem.Invalid("state", $"must be one of {string.Join(", ", names.Keys)}"));
    }

    private static DateTimeOffset? ChangedSince(HttpContext context)
    {
        if (!context.Request.Query.TryGetValue("changed_since", out var values))
        {
            return null;
        }

        if (values.Count == 1 && values[0] is { } text && Rfc3339().IsMatch(text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var at))
        {
            return at;
        }

        throw new ApiProblemException(ApiProblem.Invalid("changed_since",
            "must be one RFC 3339 timestamp with its offset, e.g. 2026-01-31T12:00:00Z or 2026-01-31T13:00:00.5+01:00"));
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,7})?([Zz]|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339();
}
