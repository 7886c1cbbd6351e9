using System.Text.Json;

namespace OrleansMigrate.Naming;

/// <summary>The one user-facing spelling of a phase or state: snake_case (<c>rolling_back</c>), the same as the JSON's
/// enum values, in tables, progress lines, failure reasons and messages.</summary>
public static class EnumNames
{
    public static string Of<T>(T value)
        where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());
}
