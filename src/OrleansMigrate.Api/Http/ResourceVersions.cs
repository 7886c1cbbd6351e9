using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Client;

namespace OrleansMigrate.Api.Http;

/// <summary>
/// Versions for optimistic concurrency. The records have no stored version, so a resource's version is its content: the
/// SHA-256 of the JSON the API answers for it (a strong <c>ETag</c>; any change a reader could see changes it).
/// Every single-resource GET answers its <c>ETag</c> (and 304 to a matching <c>If-None-Match</c>); the single-resource
/// mutations (cordon, uncordon, VM delete, migration cancel) honour <c>If-Match</c>: the resource is read, its version
/// compared, and a mismatch answers 412 before the endpoint runs, so nothing changes. The read and the change are two
/// calls: a change landing between them is not caught (the grains keep no version to compare and set atomically).
/// Runs after authorization, so a caller learns versions only of what it may read.
/// </summary>
public sealed class ResourceVersions(RequestDelegate next)
{
    /// <summary>The GET endpoints (by name) whose 200 answers carry an ETag.</summary>
    private static readonly HashSet<string> Versioned = new(StringComparer.Ordinal)
    {
        "GetHost", "GetVm", "GetMigration", "GetDrain", "GetCampaign", "GetPlan",
    };

    /// <summary>The mutations that honour If-Match, with how to read the resource they change (by its route value).</summary>
    private static readonly Dictionary<string, (string Route, Func<OmigClient, string, Task<object>> Read)> Conditional = new(StringComparer.Ordinal)
    {
        ["CordonHost"] = ("hostId", async (o, id) => await o.GetHostAsync(id)),
        ["UncordonHost"] = ("hostId", async (o, id) => await o.GetHostAsync(id)),
        ["DeleteVm"] = ("vmId", async (o, id) => await o.GetVmAsync(id)),
        ["CancelMigration"] = ("migrationId", async (o, id) => await o.GetMigrationAsync(id)),
    };

    public async Task InvokeAsync(HttpContext context)
    {
        var name = context.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName;
        if (name is null)
        {
            await next(context);
        }
        else if (HttpMethods.IsGet(context.Request.Method) && Versioned.Contains(name))
        {
            await TagAsync(context);
        }
        else if (Conditional.TryGetValue(name, out var conditional) && context.Request.Headers.IfMatch.Count > 0)
        {
            await CheckAsync(context, conditional.Route, conditional.Read);
        }
        else
        {
            await next(context);
        }
    }

    /// <summary>The version of a resource as the API serializes it: what a GET's ETag says.</summary>
    public static string Of(object resource) => Version(JsonSerializer.SerializeToUtf8Bytes(resource, resource.GetType(), ApiJson.Options));

    /// <summary>The hash of the answer's bytes: canonical, since the API writes dictionaries in ordinal key order
    /// (<see cref="OrdinalKeyOrder"/>) and every other member in its type's order, so every silo's API gives one resource
    /// one version.</summary>
    private static string Version(ReadOnlySpan<byte> json) =>
        "\"" + Convert.ToHexStringLower(SHA256.HashData(json).AsSpan(0, 16)) + "\"";

    private async Task TagAsync(HttpContext context)
    {
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        if (context.Response.StatusCode == StatusCodes.Status200OK && buffer.Length > 0)
        {
            var etag = Version(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
            context.Response.Headers.ETag = etag;
            if (Matches(context.Request.Headers.IfNoneMatch, etag, allowWeak: true))
            {
                context.Response.StatusCode = StatusCodes.Status304NotModified;
                context.Response.ContentType = null;
                return;
            }
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted);
    }

    private async Task CheckAsync(HttpContext context, string route, Func<OmigClient, string, Task<object>> read)
    {
        object current;
        try
        {
            current = await read(context.RequestServices.GetRequiredService<OmigClient>(), context.Request.RouteValues[route]?.ToString() ?? "");
        }
        catch (Exception) when (!context.RequestAborted.IsCancellationRequested)
        {
            // Unknown or malformed id, or a cluster that does not answer: the endpoint gives the same answer (404, 400, 503).
            await next(context);
            return;
        }

        var etag = Of(current);
        if (Matches(context.Request.Headers.IfMatch, etag, allowWeak: false))
        {
            await next(context);
            return;
        }

        context.Response.Headers.ETag = etag;
        await new ApiProblem(StatusCodes.Status412PreconditionFailed, "precondition_failed", "if-match",
            $"the resource changed: its version is {etag}, not the one given in If-Match; read it again and retry with its ETag").WriteAsync(context);
    }

    /// <summary>RFC 9110 matching: <c>*</c>, or one of a comma-separated list of entity tags. If-Match compares strongly
    /// (a weak tag never matches); If-None-Match weakly.</summary>
    private static bool Matches(Microsoft.Extensions.Primitives.StringValues header, string etag, bool allowWeak)
    {
        foreach (var value in header)
        {
            foreach (var raw in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (raw == "*")
                {
                    return true;
                }

                var tag = allowWeak && raw.StartsWith("W/", StringComparison.Ordinal) ? raw[2..] : raw;
                if (string.Equals(tag, etag, StringComparison.Ordinal))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
