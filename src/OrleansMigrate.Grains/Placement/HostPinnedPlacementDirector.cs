using Microsoft.Extensions.Logging;
using Orleans.Runtime.Placement;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Grains.Placement;

/// <summary>
/// Puts the agent of host X on the silo serving X. When no live silo serves X it throws — placing the
/// agent anywhere else would let one host's hypervisor be driven from the wrong machine.
/// </summary>
public sealed partial class HostPinnedPlacementDirector(SiloDirectory silos, ILogger<HostPinnedPlacementDirector> logger) : IPlacementDirector
{
    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var hostId = target.GrainIdentity.Key.ToString();
        var serving = await silos.ServingHostAsync(context.GetCompatibleSilos(target), hostId);
        if (serving.Count == 0)
        {
            throw new OmigException(OmigErrorCode.Unavailable, "host", $"no live silo serves host '{hostId}': start a host silo with --hosts {hostId}, or check 'omig cluster status'");
        }

        if (serving.Count > 1)
        {
            LogSeveralSilos(logger, hostId, serving.Count);
        }

        // Deterministic choice so that two placements racing for the same host agree.
        return serving.OrderBy(s => s.ToParsableString(), StringComparer.Ordinal).First();
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Host {HostId} is named by {Count} live silos; pinning its agent to the first. Fix the silos' Omig:Hosts.")]
    private static partial void LogSeveralSilos(ILogger logger, string hostId, int count);
}
