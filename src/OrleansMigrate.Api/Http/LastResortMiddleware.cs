using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OrleansMigrate.Api.Http;

/// <summary>
/// What escapes every handler (a middleware's own failure): logged by type and message with the trace id — not with the
/// stack trace ASP.NET Core's default logging would write — and answered with a 500 problem when the answer has not begun.
/// </summary>
public sealed class LastResortMiddleware(RequestDelegate next, ILogger<LastResortMiddleware> log)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            log.LogError("{Method} {Path} failed: {Type}: {Message} (trace {Trace})", context.Request.Method, context.Request.Path,
                ex.GetType().Name, ex.Message, context.TraceIdentifier);
            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
                await new ApiProblem(StatusCodes.Status500InternalServerError, "internal", null,
                    $"the request failed inside the API; the server log has the detail under trace id {context.TraceIdentifier}").WriteAsync(context);
            }
        }
    }
}
