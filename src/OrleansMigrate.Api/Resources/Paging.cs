using System.Buffers.Text;
using System.Text;
using Microsoft.AspNetCore.Http;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Api.Resources;

/// <summary>
/// Paging by key: items sorted by a string key, the continuation token is the last key given, base64url-encoded so callers
/// treat it as opaque. A page stays correct while the list changes (no offsets to skip or repeat items).
/// </summary>
public static class Paging
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    public static Page<T> Take<T>(HttpContext context, IEnumerable<T> items, Func<T, string> key)
    {
        var (limit, after) = Read(context);
        var page = items
            .Where(i => after is null || string.CompareOrdinal(key(i), after) > 0)
            .OrderBy(key, StringComparer.Ordinal)
            .Take(limit + 1)
            .ToList();
        var next = page.Count > limit ? Encode(key(page[limit - 1])) : null;
        return new Page<T>(page.Take(limit).ToList(), next);
    }

    /// <summary>A page from a source that already walked in key order from the continuation on and stopped after
    /// <paramref name="limit"/> + 1 items (the extra one only says there is more).</summary>
    public static Page<T> Of<T>(IReadOnlyList<T> walked, int limit, Func<T, string> key)
    {
        var next = walked.Count > limit ? Encode(key(walked[limit - 1])) : null;
        return new Page<T>(walked.Take(limit).ToList(), next);
    }

    /// <summary>The continuation token that resumes a walk after <paramref name="key"/>.</summary>
    public static string ContinueAfter(string key) => Encode(key);

    /// <summary>The page size and the key to continue after, checked (400 naming <c>limit</c> or <c>continuation</c>).</summary>
    public static (int Limit, string? After) Read(HttpContext context)
    {
        var limit = DefaultLimit;
        if (context.Request.Query.TryGetValue("limit", out var l))
        {
            if (l.Count != 1 || !int.TryParse(l[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit)
            {
                throw OmigException.Invalid("limit", $"must be a whole number 1-{MaxLimit}");
            }
        }

        string? after = null;
        if (context.Request.Query.TryGetValue("continuation", out var c))
        {
            after = c.Count == 1 ? Decode(c[0]) : null;
            if (after is null)
            {
                throw OmigException.Invalid("continuation", "is not a token this API gave out (pass the 'next' of the previous page unchanged)");
            }
        }

        return (limit, after);
    }

    private static string Encode(string key) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes("k1:" + key));

    private static string? Decode(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 200)
        {
            return null;
        }

        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
            return text.StartsWith("k1:", StringComparison.Ordinal) && !text.Any(char.IsControl) ? text[3..] : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
