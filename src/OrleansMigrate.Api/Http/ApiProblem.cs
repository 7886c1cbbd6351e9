using System.Text.Json;
using Microsoft.AspNetCore.Http;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Api.Http;

/// <summary>
/// An RFC 9457 problem (<c>application/problem+json</c>) carrying our error code and the field at fault, so a caller in
/// any language branches on <c>code</c> and shows <c>field: detail</c> without parsing prose.
/// </summary>
/// <param name="Code">An <see cref="OmigErrorCode"/> in snake_case, or one of the API's own: <c>unauthenticated</c>,
/// <c>forbidden</c>, <c>payload_too_large</c>, <c>idempotency_key_reused</c>, <c>idempotency_key_in_use</c>, <c>internal</c>.</param>
public sealed record ApiProblem(int Status, string Code, string? Field, string Detail)
{
    public const string ContentType = "application/problem+json";

    public static ApiProblem From(OmigException ex) => new(StatusOf(ex.Code), Naming.EnumNames.Of(ex.Code), ex.Field, ex.Reason);

    public static ApiProblem Invalid(string field, string detail) => new(StatusCodes.Status400BadRequest, "invalid_argument", field, detail);

    /// <summary>Our codes as HTTP: capacity and state conflicts are 409, a host that cannot run the VM 422, an agent or
    /// cluster that does not answer 503 (retry later).</summary>
    public static int StatusOf(OmigErrorCode code) => code switch
    {
        OmigErrorCode.InvalidArgument => StatusCodes.Status400BadRequest,
        OmigErrorCode.NotFound => StatusCodes.Status404NotFound,
        OmigErrorCode.Conflict => StatusCodes.Status409Conflict,
        OmigErrorCode.InsufficientCapacity => StatusCodes.Status409Conflict,
        OmigErrorCode.Incompatible => StatusCodes.Status422UnprocessableEntity,
        OmigErrorCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
        OmigErrorCode.Aborted => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>The body as RFC 9457 members plus ours (<c>code</c>, <c>field</c>).</summary>
    public string ToJson(string instance) => JsonSerializer.Serialize(new ProblemDocument(
        "urn:omig:problem:" + Code.Replace('_', '-'), Title(Status), Status, Detail, instance, Code, Field), ApiJson.Options);

    public Task WriteAsync(HttpContext context)
    {
        context.Response.StatusCode = Status;
        context.Response.ContentType = ContentType;
        return context.Response.WriteAsync(ToJson(context.Request.Path), context.RequestAborted);
    }

    private static string Title(int status) => status switch
    {
        400 => "Bad request",
        401 => "Unauthenticated",
        403 => "Forbidden",
        404 => "Not found",
        409 => "Conflict",
        413 => "Payload too large",
        422 => "Unprocessable request",
        503 => "Unavailable",
        _ => "Internal error",
    };

    /// <summary>The problem document as sent (and as the OpenAPI document describes it).</summary>
    /// <param name="Type">A URN naming the problem (<c>urn:omig:problem:not-found</c>).</param>
    /// <param name="Code">Our error code: branch on this.</param>
    /// <param name="Field">The request field, path segment, query parameter or header at fault, or null.</param>
    public sealed record ProblemDocument(string Type, string Title, int Status, string Detail, string Instance, string Code, string? Field);
}

/// <summary>Thrown inside a handler to answer with a problem (a refused request, nothing changed).</summary>
public sealed class ApiProblemException(ApiProblem problem) : Exception(problem.Detail)
{
    public ApiProblem Problem { get; } = problem;
}
