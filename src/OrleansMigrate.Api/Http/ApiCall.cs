using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Idempotency;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Api.Http;

/// <summary>What a handler answers: status, resource (serialized with <see cref="ApiJson"/>), Location.</summary>
public sealed record ApiAnswer(int Status, object? Body, string? Location = null);

/// <summary>
/// The one way every endpoint runs: errors become problems (never a stack trace), and a mutating call goes through its
/// <c>Idempotency-Key</c> first. A mutation's answer is stored under the key unless it is a 5xx, which a retry may fix.
/// </summary>
public static class ApiCall
{
    public const string IdempotencyHeader = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public const int MaxIdempotencyKeyLength = 255;

    /// <summary>A read: 200 with the handler's result.</summary>
    public static async Task ReadAsync(HttpContext context, Func<Task<object>> run)
    {
        StoredResponse response;
        try
        {
            response = Ok(new ApiAnswer(StatusCodes.Status200OK, await run()));
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            response = Problem(context, ex);
        }

        await WriteAsync(context, response);
    }

    /// <summary>A mutation: body read (bounded), idempotency key honoured, the handler run once per key.</summary>
    public static async Task MutateAsync(HttpContext context, Func<byte[], Task<ApiAnswer>> run)
    {
        var options = context.RequestServices.GetRequiredService<IOptions<OmigApiOptions>>().Value;
        byte[] body;
        string? key;
        try
        {
            body = await RequestBody.ReadAsync(context, options.MaxBodyBytes);
            key = IdempotencyKey(context);
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            await WriteAsync(context, Problem(context, ex));
            return;
        }

        if (key is null)
        {
            await WriteAsync(context, await RunAsync(context, run, body));
            return;
        }

        var who = context.User.FindFirstValue(ClaimTypes.Name) ?? "-";
        var hash = Convert.ToHexStringLower(SHA256.HashData(
            [.. Encoding.UTF8.GetBytes($"{context.Request.Method}\n{context.Request.Path}\n"), .. body]));
        var grain = context.RequestServices.GetRequiredService<IGrainFactory>().GetGrain<IIdempotencyGrain>($"{who}/{key}");
        IdempotencyClaim claim;
        try
        {
            claim = await grain.ClaimAsync(hash, TimeSpan.FromHours(options.IdempotencyHours));
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            await WriteAsync(context, Problem(context, ex));
            return;
        }

        switch (claim.Outcome)
        {
            case IdempotencyOutcome.Replay:
                context.Response.Headers[ReplayedHeader] = "true";
                await WriteAsync(context, claim.Response!);
                return;
            case IdempotencyOutcome.Mismatch:
                await WriteAsync(context, Problem(context, new ApiProblemException(new ApiProblem(StatusCodes.Status422UnprocessableEntity,
                    "idempotency_key_reused", "idempotency-key", "this key was used for a different request (method, path or body); use a new key for a new request"))));
                return;
            case IdempotencyOutcome.InProgress:
                await WriteAsync(context, Problem(context, new ApiProblemException(new ApiProblem(StatusCodes.Status409Conflict,
                    "idempotency_key_in_use", "idempotency-key", "the first request with this key is still running; retry shortly"))));
                return;
        }

        var response = await RunAsync(context, run, body);
        try
        {
            if (response.Status >= 500)
            {
                await grain.ReleaseAsync(hash);
            }
            else
            {
                await grain.CompleteAsync(hash, response);
            }
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            // The request itself was answered; the key will be claimable again after IdempotencyGrain.StaleClaim.
            Log(context).LogWarning("idempotency key of {Method} {Path} not stored: {Error}", context.Request.Method, context.Request.Path, ex.GetType().Name);
        }

        await WriteAsync(context, response);
    }

    private static async Task<StoredResponse> RunAsync(HttpContext context, Func<byte[], Task<ApiAnswer>> run, byte[] body)
    {
        try
        {
            return Ok(await run(body));
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            return Problem(context, ex);
        }
    }

    private static string? IdempotencyKey(HttpContext context)
    {
        if (!context.Request.Headers.TryGetValue(IdempotencyHeader, out var values))
        {
            return null;
        }

        var key = values.Count == 1 ? values[0] : null;
        if (string.IsNullOrEmpty(key) || key.Length > MaxIdempotencyKeyLength || !key.All(c => c is >= '!' and <= '~'))
        {
            throw new ApiProblemException(ApiProblem.Invalid("idempotency-key", $"must be one value of 1-{MaxIdempotencyKeyLength} visible ASCII characters"));
        }

        return key;
    }

    private static StoredResponse Ok(ApiAnswer answer) =>
        new(answer.Status, "application/json", answer.Body is null ? "" : JsonSerializer.Serialize(answer.Body, answer.Body.GetType(), ApiJson.Options), answer.Location);

    /// <summary>The client library's field names (the CLI's spelling) as this API's request fields.</summary>
    private static readonly Dictionary<string, string?> FieldNames = new(StringComparer.Ordinal)
    {
        ["host"] = "host_id",
        ["vm"] = "vm_id",
        ["migration"] = "migration_id",
        ["to"] = "destination_host",
    };

    /// <summary>Any failure as a problem. Unexpected ones are logged by type and message only and answered as 500 with the
    /// trace id to look for, never with the exception's text.</summary>
    public static StoredResponse Problem(HttpContext context, Exception ex)
    {
        var problem = ex switch
        {
            ApiProblemException p => p.Problem,
            OmigException o => ApiProblem.From(o) with { Field = FieldNames.GetValueOrDefault(o.Field ?? "", o.Field) },
            TimeoutException or OrleansMessageRejectionException or SiloUnavailableException or Orleans.Runtime.Messaging.ConnectionFailedException =>
                new ApiProblem(StatusCodes.Status503ServiceUnavailable, "unavailable", null, "the cluster did not answer in time; retry later"),
            _ => null,
        };
        if (problem is null)
        {
            Log(context).LogError("{Method} {Path} failed: {Type}: {Message} (trace {Trace})", context.Request.Method, context.Request.Path,
                ex.GetType().Name, ex.Message, context.TraceIdentifier);
            problem = new ApiProblem(StatusCodes.Status500InternalServerError, "internal", null,
                $"the request failed inside the API; the server log has the detail under trace id {context.TraceIdentifier}");
        }

        return new StoredResponse(problem.Status, ApiProblem.ContentType, problem.ToJson(context.Request.Path), null);
    }

    private static async Task WriteAsync(HttpContext context, StoredResponse response)
    {
        context.Response.StatusCode = response.Status;
        if (response.Location is not null)
        {
            context.Response.Headers.Location = response.Location;
        }

        if (response.Body.Length > 0)
        {
            context.Response.ContentType = response.ContentType;
            await context.Response.WriteAsync(response.Body, context.RequestAborted);
        }
    }

    private static ILogger Log(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OrleansMigrate.Api");
}
