using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Api.Http;

/// <summary>Path ids checked before any grain is asked: a grain key is never made of a caller's control characters or
/// kilobytes of text.</summary>
public static class Ids
{
    public static string Require(string field, string? id)
    {
        CheckLengthAndControl(field, id);
        FleetValidation.RequireId(field, id);
        return id!;
    }

    /// <summary>A configured name (a policy: any configuration key): only bounded and printable here; the grain says
    /// whether it exists.</summary>
    public static string RequireName(string field, string? name)
    {
        CheckLengthAndControl(field, name);
        if (string.IsNullOrWhiteSpace(name))
        {
            throw OmigException.Invalid(field, "must not be empty");
        }

        return name;
    }

    private static void CheckLengthAndControl(string field, string? id)
    {
        if (id is { Length: > FleetValidation.MaxIdLength })
        {
            throw OmigException.Invalid(field, $"is {id.Length} characters; at most {FleetValidation.MaxIdLength}");
        }

        if (id is not null && id.Any(char.IsControl))
        {
            throw OmigException.Invalid(field, "contains control characters");
        }
    }
}
