using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace OrleansMigrate.Api.Http;

/// <summary>
/// Writes string-keyed dictionaries (<see cref="ImmutableDictionary{TKey, TValue}"/>, <see cref="IReadOnlyDictionary{TKey, TValue}"/>,
/// <see cref="IImmutableDictionary{TKey, TValue}"/>) with their keys in ordinal order. Their own enumeration order follows
/// the process's randomized string hashing, so without this two API processes wrote one resource as two different byte
/// strings, and its version (<see cref="ResourceVersions"/>, the hash of the answer) had to be computed over a re-parsed,
/// member-sorted copy of every answer — the largest cost of a GET after the grain call. Now the answer's own bytes are
/// canonical and are hashed as they are. Reads into the same types as the default converters do.
/// </summary>
public sealed class OrdinalKeyOrder : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert)
    {
        if (!typeToConvert.IsGenericType || typeToConvert.GetGenericArguments()[0] != typeof(string))
        {
            return false;
        }

        var definition = typeToConvert.GetGenericTypeDefinition();
        return definition == typeof(ImmutableDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>) || definition == typeof(IImmutableDictionary<,>);
    }

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<,>).MakeGenericType(typeToConvert, typeToConvert.GetGenericArguments()[1]))!;

    private sealed class Converter<TDictionary, TValue> : JsonConverter<TDictionary>
        where TDictionary : IEnumerable<KeyValuePair<string, TValue>>
    {
        public override TDictionary? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            JsonSerializer.Deserialize<Dictionary<string, TValue>>(ref reader, options) is { } read
                ? (TDictionary)(object)ImmutableDictionary.CreateRange(read)
                : default;

        public override void Write(Utf8JsonWriter writer, TDictionary value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            foreach (var (key, item) in value.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                writer.WritePropertyName(options.DictionaryKeyPolicy?.ConvertName(key) ?? key);
                JsonSerializer.Serialize(writer, item, options);
            }

            writer.WriteEndObject();
        }
    }
}
