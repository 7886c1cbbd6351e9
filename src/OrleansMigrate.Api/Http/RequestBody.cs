using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace OrleansMigrate.Api.Http;

/// <summary>
/// Reads a request body once, bounded, and turns it into a request record strictly. Every refusal is a problem naming the
/// field, raised before any grain is called, so a bad request changes nothing.
/// </summary>
public static class RequestBody
{
    /// <summary>The raw body, at most <paramref name="limit"/> bytes (413 above; also when Content-Length says so up front).</summary>
    public static async Task<byte[]> ReadAsync(HttpContext context, int limit)
    {
        if (context.Request.ContentLength > limit)
        {
            throw TooLarge(limit);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        try
        {
            while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    throw TooLarge(limit);
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(limit);
        }

        return buffer.ToArray();
    }

    /// <summary>The body as <typeparamref name="T"/>: JSON object, no unknown field, no missing required field.</summary>
    public static T Parse<T>(HttpContext context, byte[] body)
        where T : class
    {
        if (body.Length == 0)
        {
            throw new ApiProblemException(ApiProblem.Invalid("body", "a JSON object is required"));
        }

        if (context.Request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiProblemException(new ApiProblem(StatusCodes.Status415UnsupportedMediaType, "invalid_argument", "content-type", $"'{Printable(type)}' is not application/json"));
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16, AllowDuplicateProperties = false });
        }
        catch (JsonException ex)
        {
            throw new ApiProblemException(ex.Message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase)
                ? ApiProblem.Invalid(Quoted(ex.Message) ?? FieldOf(ex.Path), "appears more than once in the object")
                : ApiProblem.Invalid("body", $"malformed JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1})"));
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ApiProblemException(ApiProblem.Invalid("body", "must be a JSON object"));
            }

            try
            {
                return document.RootElement.Deserialize<T>(ApiJson.Strict)
                    ?? throw new ApiProblemException(ApiProblem.Invalid("body", "must be a JSON object"));
            }
            catch (JsonException ex)
            {
                throw new ApiProblemException(Describe(ex));
            }
        }
    }

    /// <summary>The serializer's complaint in our words: which field and what is wrong with it, without .NET type names.</summary>
    private static ApiProblem Describe(JsonException ex)
    {
        var message = ex.Message;
        const string unmapped = "The JSON property '";
        if (message.StartsWith(unmapped, StringComparison.Ordinal) && message.IndexOf('\'', unmapped.Length) is var end and > 0
            && message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            var name = message[unmapped.Length..end];
            return ApiProblem.Invalid(Printable(name), "is not a field of this request");
        }

        var field = FieldOf(ex.Path);
        if (message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase))
        {
            return ApiProblem.Invalid(field, "appears more than once in the object");
        }

        if (message.Contains("missing required properties", StringComparison.Ordinal) || message.Contains("missing required", StringComparison.OrdinalIgnoreCase))
        {
            var start = message.IndexOf("including: '", StringComparison.Ordinal);
            if (start >= 0)
            {
                start += "including: '".Length;
                var stop = message.IndexOf('\'', start);
                if (stop > start)
                {
                    return ApiProblem.Invalid(message[start..stop], "is required");
                }
            }

            return ApiProblem.Invalid(field, "a required field is missing");
        }

        if (message.Contains("null", StringComparison.OrdinalIgnoreCase) && message.Contains("non-nullable", StringComparison.OrdinalIgnoreCase))
        {
            return ApiProblem.Invalid(field, "must not be null");
        }

        return ApiProblem.Invalid(field, "has the wrong type or format");
    }

    /// <summary>The first '…'-quoted name in a serializer message (the property it complains about), made printable.</summary>
    private static string? Quoted(string message)
    {
        var start = message.IndexOf('\'');
        var end = start < 0 ? -1 : message.IndexOf('\'', start + 1);
        return end > start + 1 ? Printable(message[(start + 1)..end]) : null;
    }

    private static string FieldOf(string? path) =>
        path is null or "$" ? "body" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    /// <summary>Text from the caller made safe to echo: control characters replaced, at most 64 characters.</summary>
    public static string Printable(string text)
    {
        var clean = new string([.. text.Take(64).Select(c => char.IsControl(c) ? '?' : c)]);
        return text.Length > 64 ? clean + "…" : clean;
    }

    private static ApiProblemException TooLarge(int limit) =>
        new(new ApiProblem(StatusCodes.Status413PayloadTooLarge, "payload_too_large", "body", $"the request body is over {limit} bytes"));
}
