using System.Collections.Immutable;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Tests;

/// <summary>Builders for specs with sensible defaults; ids are made unique per test so tests share one cluster.</summary>
public static class TestFleet
{
    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 63)];

    public static HostSpec Host(string id, int cores = 16, long memoryMiB = 65536, string[]? features = null, string firmware = "1.0.0") =>
        new(id, cores, memoryMiB, "Xeon Gold 6348", [.. features ?? ["sse4_2", "avx", "avx2"]], 3, firmware, "6.1.0", "7.2.0",
            ImmutableDictionary<string, string>.Empty.Add("rack", "r1"));

    public static VmSpec Vm(string id, int vcpus = 2, long memoryMiB = 4096, string[]? features = null, string? vpc = null, string? ip = null) =>
        new(id, vcpus, memoryMiB, [.. features ?? ["avx"]], "standard", ImmutableDictionary<string, string>.Empty,
            [new DiskSpec($"{id}-root"[..Math.Min(id.Length + 5, 63)], 40)],
            ip is null ? [] : [new NicSpec(vpc ?? "vpc-1", ip, RandomMac())],
            []);

    public static string RandomIp() => $"10.{Random.Shared.Next(0, 255)}.{Random.Shared.Next(0, 255)}.{Random.Shared.Next(1, 254)}";

    public static string RandomMac()
    {
        var b = new byte[6];
        Random.Shared.NextBytes(b);
        b[0] = (byte)((b[0] & 0xFE) | 0x02);
        return string.Join(':', b.Select(x => x.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
    }
}
