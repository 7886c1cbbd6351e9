using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Api.Resources;

/// <summary>/v1/hosts and /v1/vms: the fleet registry, through <see cref="OmigClient"/> (which validates as the CLI does).</summary>
public static class FleetEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        var hosts = v1.MapGroup("/hosts").WithTags("hosts");
        hosts.MapGet("/", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, async () => Paging.Take(c, await Omig(c).ListHostsAsync(), h => h.HostId)))
            .WithName("ListHosts").Produces<Page<HostRecord>>().RequireAuthorization(ApiRoles.ReadPolicy);
        hosts.MapGet("/{hostId}", (HttpContext c, string hostId) => ApiCall.ReadAsync(c, async () => await Omig(c).GetHostAsync(Ids.Require("host_id", hostId))))
            .WithName("GetHost").Produces<HostRecord>().RequireAuthorization(ApiRoles.ReadPolicy);
        hosts.MapPost("/", (HttpContext c, CancellationToken _) => ApiCall.MutateAsync(c, async body =>
            {
                var spec = RequestBody.Parse<HostCreate>(c, body).ToSpec();
                var record = await Omig(c).AddHostAsync(spec);
                return new ApiAnswer(StatusCodes.Status201Created, record, $"/v1/hosts/{record.HostId}");
            }))
            .WithName("CreateHost").Accepts<HostCreate>("application/json").Produces<HostRecord>(StatusCodes.Status201Created)
            .RequireAuthorization(ApiRoles.OperatorPolicy);
        hosts.MapPost("/{hostId}/cordon", (HttpContext c, string hostId) => ApiCall.MutateAsync(c, async _ =>
                new ApiAnswer(StatusCodes.Status200OK, await Omig(c).CordonHostAsync(Ids.Require("host_id", hostId)))))
            .WithName("CordonHost").Produces<HostRecord>().RequireAuthorization(ApiRoles.OperatorPolicy);
        hosts.MapPost("/{hostId}/uncordon", (HttpContext c, string hostId) => ApiCall.MutateAsync(c, async _ =>
                new ApiAnswer(StatusCodes.Status200OK, await Omig(c).UncordonHostAsync(Ids.Require("host_id", hostId)))))
            .WithName("UncordonHost").Produces<HostRecord>().RequireAuthorization(ApiRoles.OperatorPolicy);

        var vms = v1.MapGroup("/vms").WithTags("vms");
        vms.MapGet("/", (HttpContext c, CancellationToken _) => ApiCall.ReadAsync(c, async () => await ListFilters.VmPageAsync(c, Omig(c))))
            .WithName("ListVms").Produces<Page<VmRecord>>().RequireAuthorization(ApiRoles.ReadPolicy);
        vms.MapGet("/{vmId}", (HttpContext c, string vmId) => ApiCall.ReadAsync(c, async () => await Omig(c).GetVmAsync(Ids.Require("vm_id", vmId))))
            .WithName("GetVm").Produces<VmRecord>().RequireAuthorization(ApiRoles.ReadPolicy);
        vms.MapPost("/", (HttpContext c, CancellationToken _) => ApiCall.MutateAsync(c, async body =>
            {
                var create = RequestBody.Parse<VmCreate>(c, body);
                Ids.Require("vm_id", create.VmId);
                Ids.Require("host_id", create.HostId);
                var record = await Omig(c).CreateVmAsync(create.ToSpec(), create.HostId);
                return new ApiAnswer(StatusCodes.Status201Created, record, $"/v1/vms/{record.VmId}");
            }))
            .WithName("CreateVm").Accepts<VmCreate>("application/json").Produces<VmRecord>(StatusCodes.Status201Created)
            .RequireAuthorization(ApiRoles.CloudPolicy);
        vms.MapDelete("/{vmId}", (HttpContext c, string vmId) => ApiCall.MutateAsync(c, async _ =>
            {
                var id = Ids.Require("vm_id", vmId);
                await Omig(c).GetVmAsync(id); // 404 for an unknown VM, not a silent success
                await Omig(c).DeleteVmAsync(id);
                return new ApiAnswer(StatusCodes.Status204NoContent, null);
            }))
            .WithName("DeleteVm").Produces(StatusCodes.Status204NoContent).RequireAuthorization(ApiRoles.CloudPolicy);
    }

    internal static OmigClient Omig(HttpContext context) => context.RequestServices.GetRequiredService<OmigClient>();
}
