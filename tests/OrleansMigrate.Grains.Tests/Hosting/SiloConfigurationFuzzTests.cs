using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Hosting;

/// <summary>
/// Seeded fuzzing of the silo's configuration check: any combination of values, hostile ones included, gets a list of
/// errors that name their key — never an exception, and never "valid" for a value outside its range.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class SiloConfigurationFuzzTests
{
    private static readonly string?[] Strings =
    [
        null, "", " ", "all", "control", "host", "boss", "memory", "postgres", "qemu", "simulated", "*", "h-1", "h-1,h-2", "H_1",
        "h-1,,h-2", new string('a', 5000), "\0", "ünïcödé", "../../etc", "/abs/path", "rel/path", "kvm", "tcg", "auto", "normal",
        "high", "Host=127.0.0.1;Database=x", "127.0.0.1", "::1", "999.1.1.1", "http://127.0.0.1:4317", "console", "otlp", "none",
    ];

    /// <summary>TLS paths: missing, empty, not a certificate, a directory, a device.</summary>
    private static readonly string?[] TlsPaths = [null, "", " ", "/nonexistent/x.pfx", "/etc/hostname", "/tmp", "/dev/null", "rel/x.pem", "\0", new string('p', 5000)];

    private static readonly int[] Ports = [-1, 0, 1, 80, 11111, 30000, 65535, 65536, int.MaxValue, int.MinValue];

    [Theory]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    public void Any_configuration_gets_errors_naming_their_keys_and_never_an_exception(int seed)
    {
        var random = new Random(seed);
        string? Pick() => Strings[random.Next(Strings.Length)];
        for (var i = 0; i < 3000; i++)
        {
            var o = new OmigSiloOptions
            {
                Role = Pick() ?? "all",
                Hosts = Pick(),
                Name = Pick(),
                Storage = Pick() ?? "memory",
                ConnectionString = Pick(),
                ClusterId = Pick() ?? "omig",
                ServiceId = Pick() ?? "orleansmigrate",
                SiloPort = Ports[random.Next(Ports.Length)],
                GatewayPort = Ports[random.Next(Ports.Length)],
                AdvertisedAddress = Pick() ?? "127.0.0.1",
                Telemetry = Pick() ?? "none",
                OtlpEndpoint = Pick(),
                Driver = Pick() ?? "simulated",
            };
            o.Qemu.Binary = Pick() ?? "qemu-system-x86_64";
            o.Qemu.Accelerator = Pick() ?? "auto";
            o.Qemu.ProcessPriority = Pick() ?? "normal";
            o.Qemu.RuntimeDirectory = Pick() ?? "/tmp/omig-qemu";
            for (var n = random.Next(3); n > 0; n--)
            {
                o.Qemu.ImageDirectories.Add(Pick() ?? "/var/lib/omig/images");
            }

            o.Tls.Certificate = TlsPaths[random.Next(TlsPaths.Length)];
            o.Tls.KeyFile = TlsPaths[random.Next(TlsPaths.Length)];
            o.Tls.CaCertificate = TlsPaths[random.Next(TlsPaths.Length)];
            o.Tls.Password = Pick();
            o.Tls.Enabled = random.Next(4) != 0;

            var errors = OmigSiloOptionsValidator.Check(o);
            Assert.All(errors, e => Assert.StartsWith("Omig:", e, StringComparison.Ordinal));
            if (o.Tls.SiloTlsOn)
            {
                // None of these paths is a certificate with its key.
                Assert.Contains(errors, e => e.StartsWith("Omig:Tls:", StringComparison.Ordinal));
            }

            if (o.SiloPort is < 1 or > 65535)
            {
                Assert.Contains(errors, e => e.StartsWith("Omig:SiloPort", StringComparison.Ordinal));
            }

            if (o.Driver.Trim().ToLowerInvariant() is not ("simulated" or "qemu"))
            {
                Assert.Contains(errors, e => e.StartsWith("Omig:Driver", StringComparison.Ordinal));
            }
            else if (o.Driver.Trim().Equals("qemu", StringComparison.OrdinalIgnoreCase) && o.Qemu.ImageDirectories.Any(d => !Path.IsPathFullyQualified(d)))
            {
                // The QEMU section reports its first bad field; a relative image directory is bad, so there is one.
                Assert.Contains(errors, e => e.StartsWith("Omig:Qemu:", StringComparison.Ordinal));
            }
        }
    }
}
