using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OrleansMigrate.Api.Http;
using static OrleansMigrate.Api.Resources.FleetEndpoints;

namespace OrleansMigrate.Api.Resources;

/// <summary>
/// GET /v1/migrations/{id}/events: the migration grain's watch (phase changes and progress, about every 200 ms) as
/// server-sent events — <c>event: status</c> with an increasing <c>id:</c> and the status as JSON, then <c>event: end</c>
/// once it has ended. A caller's watch ends with the connection; the migration does not depend on it. Each event carries the
/// whole status, so a reconnect (with <c>Last-Event-ID</c>) starts from the current status and misses nothing it needs.
/// </summary>
public static class MigrationEvents
{
    public static async Task StreamAsync(HttpContext context, string migrationId)
    {
        string id;
        try
        {
            id = Ids.Require("migration_id", migrationId);
            await Omig(context).GetMigrationAsync(id); // 404 as a problem, before the stream starts
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            var problem = ApiCall.Problem(context, ex);
            context.Response.StatusCode = problem.Status;
            context.Response.ContentType = problem.ContentType;
            await context.Response.WriteAsync(problem.Body, context.RequestAborted);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        // A reconnecting EventSource sends the last id it saw: ids go on from there, so they keep increasing for it.
        var sequence = int.TryParse(context.Request.Headers["Last-Event-ID"], System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out var lastSeen) && lastSeen < int.MaxValue / 2 ? lastSeen : 0;
        // Ends with the caller's connection or with the API's shutdown, whichever comes first.
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        Migration.MigrationStatus? last = null;
        try
        {
            await foreach (var status in Omig(context).WatchMigrationAsync(id, watch.Token))
            {
                last = status;
                sequence++;
                await WriteEventAsync(context, sequence, "status", JsonSerializer.Serialize(status, ApiJson.Options));
            }
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested && !stopping.IsCancellationRequested)
        {
            await WriteEventAsync(context, sequence + 1, "error", ApiCall.Problem(context, ex).Body);
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return; // The caller went away.
        }
        catch (OperationCanceledException)
        {
            // The API is stopping: said below.
        }

        if (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        // "end" only for a migration that has ended; a watch cut short (the API stopping) says so, so the caller reconnects.
        await WriteEventAsync(context, sequence + 1, last is { IsEnded: true } ? "end" : "error", last is { IsEnded: true } ? "{}"
            : new ApiProblem(StatusCodes.Status503ServiceUnavailable, "unavailable", null,
                "the event stream stopped before the migration ended (the API is stopping); reconnect with Last-Event-ID").ToJson(context.Request.Path));
    }

    private static async Task WriteEventAsync(HttpContext context, int id, string name, string json)
    {
        await context.Response.WriteAsync($"id: {id}\nevent: {name}\ndata: {json}\n\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }
}
