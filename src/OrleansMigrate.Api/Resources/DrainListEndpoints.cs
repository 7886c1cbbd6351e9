using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Operations;
using static OrleansMigrate.Api.Resources.FleetEndpoints;

namespace OrleansMigrate.Api.Resources;

/// <summary>
/// <c>GET /v1/drains</c>: the current or last drain of every host that has one, in one call. Each drain lives in its
/// host's grain (<c>/v1/hosts/{id}/drain</c>), so without this a caller that wants the fleet's drains (the console's
/// drains page) would have to ask every host and read a 404 for each never drained. Paged by host id; <c>state</c>
/// filters by the drain's state as the JSON spells it (<c>running</c>, <c>completed</c>, …).
/// </summary>
public static class DrainListEndpoints
{
    /// <summary>Host drain grains read at once: a fleet of thousands of hosts is read in bounded waves, not all at once.</summary>
    private const int ReadWave = 64;

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/drains", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, async () =>
            {
                var state = StateFilter(c);
                var omig = Omig(c);
                var hosts = await omig.ListHostsAsync();
                var drains = new List<DrainStatus>(hosts.Length);
                foreach (var wave in hosts.Chunk(ReadWave))
                {
                    var read = await Task.WhenAll(wave.Select(h => omig.GetDrainOrNullAsync(h.HostId)));
                    drains.AddRange(read.OfType<DrainStatus>().Where(d => state is null || d.State == state));
                }

                return Paging.Take(c, drains, d => d.HostId);
            }))
            .WithTags("drains").WithName("ListDrains").Produces<Page<DrainStatus>>().RequireAuthorization(ApiRoles.ReadPolicy);
    }

    private static DrainState? StateFilter(HttpContext context)
    {
        if (!context.Request.Query.TryGetValue("state", out var values))
        {
            return null;
        }

        var names = Enum.GetValues<DrainState>().ToDictionary(v => Naming.EnumNames.Of(v), StringComparer.Ordinal);
        if (values.Count == 1 && values[0] is { } text && names.TryGetValue(text, out var state))
        {
            return state;
        }

        throw new ApiProblemException(ApiProblem.Invalid("state", $"must be one of {string.Join(", ", names.Keys)}"));
    }
}
