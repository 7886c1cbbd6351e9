using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrleansMigrate.Api.Hosting;
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
    /// <summary>VMs read per step when a filter may skip many.</summary>
    private const int FilteredBatch = 250;

    /// <summary>Migrations by phase; changed = created or any phase started or ended.</summary>
    public static async Task<IEnumerable<MigrationStatus>> MigrationsAsync(HttpContext context, OmigClient omig)
    {
        var phase = State<MigrationPhase>(context);
        var since = ChangedSince(context);
        var all = await omig.ListMigrationsAsync(includeEnded: true);
        return all.Where(m => (phase is null || m.Phase == phase) && (since is null || LastChange(m) > since));
    }

    /// <summary>One page of VMs, filtered by power state and <c>changed_since</c>. A VM's recorded changes are its creation
    /// and its migrations (their phases): a power change alone (stop, start) leaves no time in the record and so does not
    /// count as a change here. The VMs are walked in id order from the continuation through the index shards
    /// (<see cref="OmigClient.ReadVmsAsync"/>), never the whole fleet at once: an unfiltered page reads its own VMs only, a
    /// filtered one at most <see cref="OmigApiOptions.MaxVmScan"/> VMs (then a short page whose <c>next</c> resumes after
    /// the last VM read: a caller pages on until <c>next</c> is null, as always).</summary>
    public static async Task<Page<VmRecord>> VmPageAsync(HttpContext context, OmigClient omig)
    {
        var power = State<PowerState>(context);
        var since = ChangedSince(context);
        var (limit, after) = Paging.Read(context);
        var moved = since is null ? null : (await omig.ListMigrationsAsync(includeEnded: true))
            .GroupBy(m => m.Request.VmId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Max(LastChange), StringComparer.Ordinal);

        // Unfiltered, a page is the next limit + 1 VMs; filtered, it is read in larger steps until enough VMs match.
        var filtered = power is not null || since is not null;
        var batch = Math.Min(VmIndexShards.MaxPage, filtered ? Math.Max(limit + 1, FilteredBatch) : limit + 1);
        var maxScan = context.RequestServices.GetRequiredService<IOptions<OmigApiOptions>>().Value.MaxVmScan;
        var walked = new List<VmRecord>(limit + 1);
        var scanned = 0;
        await foreach (var v in omig.ReadVmsAsync(after, batch, context.RequestAborted))
        {
            if ((power is null || v.Power == power)
                && (since is null || v.CreatedAt > since || (moved!.TryGetValue(v.VmId, out var at) && at > since)))
            {
                walked.Add(v);
                if (walked.Count > limit)
                {
                    break;
                }
            }

            if (++scanned >= maxScan && filtered)
            {
                // Enough read for one request: a short page, resumed after the last VM read.
                return new Page<VmRecord>(walked, Paging.ContinueAfter(v.VmId));
            }
        }

        return Paging.Of(walked, limit, v => v.VmId);
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
