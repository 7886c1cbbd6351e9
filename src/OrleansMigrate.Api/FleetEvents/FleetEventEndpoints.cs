using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using OrleansMigrate.Api.Http;
using OrleansMigrate.Api.Security;

namespace OrleansMigrate.Api.FleetEvents;

/// <summary>
/// GET /v1/events: every migration's phase changes and progress, fleet-wide, as server-sent events read from the process's
/// one <see cref="FleetEventHub"/> — <c>event: status</c> with the migration's whole status (the shape of
/// <c>GET /v1/migrations/{id}/events</c>) and an id <c>EPOCH-SEQ</c>. A new client first gets the current status of every
/// migration in flight; one reconnecting with <c>Last-Event-ID</c> gets exactly the events after it (or <c>reset</c> and the
/// current state when that id is no longer buffered). A client that falls <see cref="FleetEventOptions.ClientQueue"/> events
/// behind gets a final <c>dropped</c> event and is disconnected; past <see cref="FleetEventOptions.MaxClients"/>, 503.
/// </summary>
public static class FleetEventEndpoints
{
    public static IServiceCollection AddOmigFleetEvents(this IServiceCollection services)
    {
        services.TryAddSingleton(new FleetEventOptions());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<FleetEventHub>();
        services.AddHostedService(sp => sp.GetRequiredService<FleetEventHub>());
        return services;
    }

    public static void Map(RouteGroupBuilder v1) =>
        v1.MapGet("/events", (HttpContext c, CancellationToken _) => StreamAsync(c)).WithTags("events").WithName("FleetEvents")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream").RequireAuthorization(ApiRoles.ReadPolicy);

    private static async Task StreamAsync(HttpContext context)
    {
        var hub = context.RequestServices.GetRequiredService<FleetEventHub>();
        var lastEventId = context.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 and <= 64 } id ? id : null;
        if (hub.Subscribe(lastEventId) is not { } subscriber)
        {
            context.Response.Headers.RetryAfter = "5";
            await new ApiProblem(StatusCodes.Status503ServiceUnavailable, "unavailable", null,
                $"this API process serves at most {hub.Options.MaxClients} clients on /v1/events; try again later or another silo's API").WriteAsync(context);
            return;
        }

        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        try
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers["X-Accel-Buffering"] = "no";
            foreach (var e in subscriber.Backlog)
            {
                await WriteAsync(context, hub.IdOf(e), e.Name, e.Json, watch.Token);
            }

            await context.Response.Body.FlushAsync(watch.Token);
            var reader = subscriber.Queue.Reader;
            while (true)
            {
                using var keepAlive = CancellationTokenSource.CreateLinkedTokenSource(watch.Token);
                keepAlive.CancelAfter(hub.Options.KeepAlive);
                bool more;
                try
                {
                    more = await reader.WaitToReadAsync(keepAlive.Token);
                }
                catch (OperationCanceledException) when (!watch.IsCancellationRequested)
                {
                    await context.Response.WriteAsync(": keep-alive\n\n", watch.Token);
                    await context.Response.Body.FlushAsync(watch.Token);
                    continue;
                }

                if (!more)
                {
                    break;
                }

                while (reader.TryRead(out var e))
                {
                    await WriteAsync(context, hub.IdOf(e), e.Name, e.Json, watch.Token);
                }

                await context.Response.Body.FlushAsync(watch.Token);
            }

            if (subscriber.Dropped)
            {
                await WriteAsync(context, null, "dropped", new ApiProblem(StatusCodes.Status503ServiceUnavailable, "unavailable", null,
                    $"this client fell {hub.Options.ClientQueue} events behind and was disconnected; reconnect with Last-Event-ID").ToJson(context.Request.Path), watch.Token);
                await context.Response.Body.FlushAsync(watch.Token);
            }
        }
        catch (OperationCanceledException) when (watch.IsCancellationRequested)
        {
            // The caller went away, or the API is stopping: the client reconnects with Last-Event-ID.
        }
        finally
        {
            hub.Unsubscribe(subscriber);
        }
    }

    private static Task WriteAsync(HttpContext context, string? id, string name, string json, CancellationToken cancellationToken) =>
        context.Response.WriteAsync(id is null ? $"event: {name}\ndata: {json}\n\n" : $"id: {id}\nevent: {name}\ndata: {json}\n\n", cancellationToken);
}
