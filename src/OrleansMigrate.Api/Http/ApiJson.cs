using System.Text.Json;
using System.Text.Json.Serialization;
using OrleansMigrate.Naming;

namespace OrleansMigrate.Api.Http;

/// <summary>
/// The API's JSON: snake_case and enums as snake_case strings, the same spelling as <c>omig … --json</c>, so a caller can
/// move between the CLI and the API. Reading is strict: an unknown field is an error, not silently dropped (a typo in
/// <c>destinaton_host</c> must not migrate the VM to wherever placement chooses).
/// </summary>
public static class ApiJson
{
    public static readonly JsonSerializerOptions Options = Create(strict: false);

    public static readonly JsonSerializerOptions Strict = Create(strict: true);

    private static JsonSerializerOptions Create(bool strict)
    {
        var o = new JsonSerializerOptions
        {
            PropertyNamingPolicy = UnitAwareSnakeCase.Instance,
            DictionaryKeyPolicy = null,
            Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            NumberHandling = JsonNumberHandling.Strict,
        };
        if (!strict)
        {
            // Answers only (requests are read with Strict): canonical bytes, so a resource's version is their hash.
            o.Converters.Add(new OrdinalKeyOrder());
        }

        if (strict)
        {
            o.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
            o.RespectNullableAnnotations = true;
            o.RespectRequiredConstructorParameters = true;
            o.AllowTrailingCommas = false;
            o.ReadCommentHandling = JsonCommentHandling.Disallow;
            o.MaxDepth = 16;
            // {"vm_id":"a", …, "vm_id":"b"}: which one the caller meant is unknowable, so neither is taken.
            o.AllowDuplicateProperties = false;
        }

        return o;
    }
}
