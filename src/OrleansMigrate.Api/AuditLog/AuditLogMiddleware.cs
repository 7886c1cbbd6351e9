using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Api.Http;

namespace OrleansMigrate.Api.AuditLog;

/// <summary>
/// Records every mutating request under /v1 (any method but GET, HEAD, OPTIONS), refused ones included (401, 403, 400):
/// who asked for what matters most when it was not allowed. Written as the response starts, so the entry exists by the
/// time the caller has the answer.
/// </summary>
public sealed class AuditLogMiddleware(RequestDelegate next, IGrainFactory grains, ILogger<AuditLogMiddleware> log)
{
    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method) && !HttpMethods.IsOptions(request.Method)
            && request.Path.StartsWithSegments("/v1", StringComparison.Ordinal))
        {
            context.Response.OnStarting(() => AppendAsync(context));
        }

        return next(context);
    }

    private async Task AppendAsync(HttpContext context)
    {
        var entry = new ApiAuditEntry(0, DateTimeOffset.UtcNow, context.User.FindFirstValue(ClaimTypes.Name) ?? "-", context.Request.Method,
            RequestBody.Printable(context.Request.Path.ToString()), context.Response.StatusCode,
            context.Request.Headers.TryGetValue(ApiCall.IdempotencyHeader, out var key) ? RequestBody.Printable(key.ToString()) : null);
        try
        {
            await grains.GetGrain<IApiAuditLogGrain>(IApiAuditLogGrain.Key).AppendAsync(entry);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The request has been carried out by now; failing its answer would only hide that from the caller.
            log.LogWarning("audit log: {Who} {Method} {Path} → {Status} not recorded: {Error}", entry.Who, entry.Method, entry.Path, entry.Status, ex.GetType().Name);
        }
    }
}
