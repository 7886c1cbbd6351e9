using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Hosting;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class OmigSiloOptionsValidatorTests
{
    private static OmigSiloOptions Postgres(string role, string? hosts) =>
        new() { Role = role, Hosts = hosts, Storage = "postgres", ConnectionString = "Host=127.0.0.1;Database=x" };

    [Fact]
    public void The_embedded_default_is_valid_and_serves_any_host() =>
        Assert.Equal(["*"], new OmigSiloOptions().HostList.ToArray());

    [Theory]
    [InlineData("all", "*", "Omig:Hosts")]
    [InlineData("host", null, "Omig:Hosts")]
    [InlineData("control", "h-1", "Omig:Hosts")]
    [InlineData("host", "H_1", "Omig:Hosts")]
    [InlineData("boss", "h-1", "Omig:Role")]
    public void A_PostgreSQL_silo_must_name_valid_hosts_and_never_serve_any_host(string role, string? hosts, string key)
    {
        var errors = OmigSiloOptionsValidator.Check(Postgres(role, hosts));

        Assert.Contains(errors, e => e.StartsWith(key + ":", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("h-1", false)]
    [InlineData("h-1,h-2", true)]
    [InlineData("*", true)]
    public void Tap_NICs_need_a_silo_serving_exactly_one_host(string hosts, bool refused)
    {
        var options = Postgres("host", hosts);
        options.Cloud.Network.VmNics = "tap";
        var errors = OmigSiloOptionsValidator.Check(options);
        Assert.Equal(refused, errors.Any(e => e.StartsWith("Omig:Cloud:Network:VmNics: 'tap'", StringComparison.Ordinal)));
    }

    [Fact]
    public void An_unknown_VM_NIC_mode_is_refused_naming_the_key()
    {
        var options = Postgres("host", "h-1");
        options.Cloud.Network.VmNics = "bridge";
        Assert.Contains(OmigSiloOptionsValidator.Check(options), e => e.StartsWith("Omig:Cloud:Network:VmNics: 'bridge' is not one of none, tap", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(-1, true)]
    [InlineData(0, false)]
    [InlineData(5, false)]
    [InlineData(1000, false)]
    [InlineData(1001, true)]
    public void The_relay_lead_is_0_to_1000_ms(int leadMs, bool refused)
    {
        var options = Postgres("host", "h-1");
        options.Cloud.Network.VmNics = "tap";
        options.Cloud.Network.RelayLeadMs = leadMs;
        Assert.Equal(refused, OmigSiloOptionsValidator.Check(options).Contains($"Omig:Cloud:Network:RelayLeadMs: {leadMs} is not between 0 and 1000"));
    }

    [Fact]
    public void Postgres_storage_needs_a_connection_string_and_a_reachable_address()
    {
        var errors = OmigSiloOptionsValidator.Check(new OmigSiloOptions
        {
            Role = "all", Hosts = "h-1", Storage = "postgres", AdvertisedAddress = "0.0.0.0", SiloPort = 70000, GatewayPort = 70000,
        });

        Assert.Contains(errors, e => e.StartsWith("Omig:ConnectionString:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Omig:AdvertisedAddress:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Omig:SiloPort:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Omig:GatewayPort:", StringComparison.Ordinal));
    }

    [Fact]
    public void A_host_only_silo_in_memory_mode_is_refused_because_it_would_have_no_control_plane() =>
        Assert.Contains(OmigSiloOptionsValidator.Check(new OmigSiloOptions { Role = "host", Hosts = "h-1" }),
            e => e.StartsWith("Omig:Role:", StringComparison.Ordinal));

    [Fact]
    public void Named_hosts_in_PostgreSQL_mode_are_valid() =>
        Assert.Empty(OmigSiloOptionsValidator.Check(Postgres("host", "h-1,h-2")));

    [Theory]
    [InlineData(-1)]
    [InlineData(86_401)]
    public void An_audit_interval_out_of_range_is_refused_naming_the_key(int seconds) =>
        Assert.Contains(OmigSiloOptionsValidator.Check(new OmigSiloOptions { AuditIntervalSeconds = seconds }),
            e => e.StartsWith("Omig:AuditIntervalSeconds:", StringComparison.Ordinal));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(86_400)]
    public void An_audit_interval_of_0_turns_the_auditor_off_and_1_to_a_day_is_valid(int seconds) =>
        Assert.Empty(OmigSiloOptionsValidator.Check(new OmigSiloOptions { AuditIntervalSeconds = seconds }));

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(86_401)]
    public void An_agent_wait_timeout_out_of_range_is_refused_naming_the_key(int seconds) =>
        Assert.Contains(OmigSiloOptionsValidator.Check(new OmigSiloOptions { AgentWaitTimeoutSeconds = seconds }),
            e => e.StartsWith("Omig:AgentWaitTimeoutSeconds:", StringComparison.Ordinal));

    [Theory]
    [InlineData(5)]
    [InlineData(300)]
    [InlineData(86_400)]
    public void An_agent_wait_timeout_of_5_seconds_to_a_day_is_valid_and_the_default_is_five_minutes(int seconds)
    {
        Assert.Empty(OmigSiloOptionsValidator.Check(new OmigSiloOptions { AgentWaitTimeoutSeconds = seconds }));
        Assert.Equal(300, new OmigSiloOptions().AgentWaitTimeoutSeconds);
    }
}
