using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OrleansMigrate.Api.Http;

namespace OrleansMigrate.Api.OperatorConsole;

/// <summary>
/// The operator console: static HTML, CSS and JavaScript modules embedded in this assembly (no files to deploy beside the
/// silo, no build step) and served at <c>/console/</c> by the same Kestrel as the API; <c>/</c> redirects there. The pages
/// are public (they hold no data); everything they show comes from the /v1 API with the key the operator signs in with, so
/// the API's roles decide what a caller may do, whatever the page offers. A strict Content-Security-Policy allows only
/// this origin's scripts, styles and fetches: the pages build their DOM with text nodes, never HTML from the API.
/// </summary>
public static class ConsoleEndpoints
{
    /// <summary>Where the console is served (with a trailing slash, so its relative links resolve under it).</summary>
    public const string Path = "/console/";

    private const string ResourcePrefix = "omig-console/";

    private const string ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly Lazy<FrozenDictionary<string, ConsoleFile>> Files = new(Load);

    /// <summary>The names of the embedded files (the tests check each is served).</summary>
    public static IReadOnlyCollection<string> FileNames => Files.Value.Keys;

    /// <summary>Maps <c>/</c> and <c>/console</c> (redirects) and <c>/console/{file}</c>; none of them is in the OpenAPI document.</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Results.Redirect(Path)).ExcludeFromDescription().AllowAnonymous();
        // Routing ignores a trailing slash, so "/console" lands here too: it is redirected to "/console/", where the
        // page's relative links (app.js, console.css) resolve under the console rather than at the root.
        app.MapGet("/console/{**file}", (HttpContext c, string? file) => string.IsNullOrEmpty(file)
                ? c.Request.Path.Value?.EndsWith('/') == true ? ServeAsync(c, "index.html") : Results.Redirect(Path).ExecuteAsync(c)
                : ServeAsync(c, file))
            .ExcludeFromDescription().AllowAnonymous();
    }

    private static Task ServeAsync(HttpContext context, string name)
    {
        if (!Files.Value.TryGetValue(name, out var file))
        {
            return new ApiProblem(StatusCodes.Status404NotFound, "not_found", "path",
                $"the console has no file '{RequestBody.Printable(name)}'; open {Path}").WriteAsync(context);
        }

        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        // Revalidated on every load, so a silo upgrade never leaves an old module beside a new one.
        headers.CacheControl = "no-cache";
        headers.ETag = file.ETag;
        if (context.Request.Headers.IfNoneMatch == file.ETag)
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return Task.CompletedTask;
        }

        context.Response.ContentType = file.ContentType;
        context.Response.ContentLength = file.Body.Length;
        return context.Response.Body.WriteAsync(file.Body, context.RequestAborted).AsTask();
    }

    private static FrozenDictionary<string, ConsoleFile> Load()
    {
        var assembly = typeof(ConsoleEndpoints).Assembly;
        var files = new Dictionary<string, ConsoleFile>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(r => r.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            var name = resource[ResourcePrefix.Length..];
            if (!ContentTypes.TryGetValue(System.IO.Path.GetExtension(name), out var contentType))
            {
                continue; // e.g. a licence text beside a vendored file: kept in the assembly, not served
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var body = copy.ToArray();
            files[name] = new ConsoleFile(contentType, body, $"\"{Convert.ToHexStringLower(SHA256.HashData(body))[..16]}\"");
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private sealed record ConsoleFile(string ContentType, byte[] Body, string ETag);
}
