using System.Text.Json;
using System.Text.Json.Serialization;

namespace OrleansMigrate.Cli.Output;

/// <summary>The JSON the CLI prints with <c>--json</c> and writes to report files: snake_case keeping units whole
/// (<c>memory_mib</c>, as the HTTP API spells it), enums as strings.</summary>
public static class Json
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = OrleansMigrate.Naming.UnitAwareSnakeCase.Instance,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}
