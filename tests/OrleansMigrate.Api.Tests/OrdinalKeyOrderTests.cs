using System.Collections.Immutable;
using System.Text.Json;
using OrleansMigrate.Api.Http;

namespace OrleansMigrate.Api.Tests;

/// <summary>The API writes dictionaries in ordinal key order, so an answer's bytes (and the version hashed from them) do
/// not depend on the process's string hashing or the dictionary's comparer.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class OrdinalKeyOrderTests
{
    private static readonly string[] Keys = [.. Enumerable.Range(0, 40).Select(i => $"k{(i * 7919) % 1000:000}-{(char)('a' + (i % 26))}")];

    [Fact]
    public void Dictionary_keys_are_written_in_ordinal_order_whatever_the_comparer()
    {
        var byHash = Keys.ToImmutableDictionary(k => k, k => k.Length);
        var ignoringCase = Keys.ToImmutableDictionary(k => k, k => k.Length, StringComparer.OrdinalIgnoreCase);

        var a = JsonSerializer.Serialize(new Holder(byHash, byHash), ApiJson.Options);
        var b = JsonSerializer.Serialize(new Holder(ignoringCase, ignoringCase), ApiJson.Options);

        Assert.Equal(a, b);
        using var document = JsonDocument.Parse(a);
        var written = document.RootElement.GetProperty("labels").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(Keys.Order(StringComparer.Ordinal), written);
        Assert.Equal(written, document.RootElement.GetProperty("read_only").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void What_is_written_reads_back_into_the_same_entries()
    {
        var labels = Keys.ToImmutableDictionary(k => k, k => k.Length);
        var json = JsonSerializer.Serialize(new Holder(labels, labels), ApiJson.Options);
        var back = JsonSerializer.Deserialize<Holder>(json, ApiJson.Options)!;
        Assert.Equal(labels.OrderBy(p => p.Key, StringComparer.Ordinal), back.Labels.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(labels.Count, back.ReadOnly.Count);
        Assert.Equal("{\"labels\":null,\"read_only\":{}}", JsonSerializer.Serialize(new Holder(null!, ImmutableDictionary<string, int>.Empty), ApiJson.Options));
    }

    private sealed record Holder(ImmutableDictionary<string, int> Labels, IReadOnlyDictionary<string, int> ReadOnly);
}
