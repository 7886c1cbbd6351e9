using OrleansMigrate.Client.Parsing;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Client.Tests;

/// <summary>The value syntaxes the CLI (and any tool) shares: sizes, labels, disks, NICs, pass-through devices, MACs.
/// Every refusal names the flag it came from.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class CliParsersTests
{
    [Theory]
    [InlineData("4096", 4096)]
    [InlineData("512M", 512)]
    [InlineData("64G", 65536)]
    [InlineData("64Gi", 65536)]
    [InlineData(" 2t ", 2 * 1024 * 1024)]
    public void Memory_sizes_parse_with_or_without_a_unit(string text, long mib) =>
        Assert.Equal(mib, CliParsers.ParseMemoryMiB("--memory", text));

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("4K")]
    [InlineData("G")]
    [InlineData("1.5G")]
    [InlineData("4Ki")]
    [InlineData("i")]
    [InlineData("99999999999999999999")]
    [InlineData("9223372036854775807T")]
    public void Bad_memory_sizes_are_refused_naming_the_flag(string text)
    {
        var error = Assert.Throws<OmigException>(() => CliParsers.ParseMemoryMiB("--memory", text));
        Assert.Equal(("--memory", OmigErrorCode.InvalidArgument), (error.Field, error.Code));
        Assert.Contains(text.Trim(), error.Message);
    }

    [Fact]
    public void Labels_are_key_value_pairs_each_key_once()
    {
        var labels = CliParsers.ParseLabels("--label", ["team=web", "tier=a=b"]);
        Assert.Equal("web", labels["team"]);
        Assert.Equal("a=b", labels["tier"]);
        Assert.Empty(CliParsers.ParseLabels("--label", null));

        Assert.Equal("--label", Assert.Throws<OmigException>(() => CliParsers.ParseLabels("--label", ["=x"])).Field);
        Assert.Contains("given twice", Assert.Throws<OmigException>(() => CliParsers.ParseLabels("--label", ["a=1", "a=2"])).Message);
    }

    [Fact]
    public void Disks_NICs_and_devices_parse_and_refuse_with_their_flag()
    {
        Assert.Equal(("vm1-root", 40L), (CliParsers.ParseDisk("vm1-root:40").DiskId, CliParsers.ParseDisk("vm1-root:40").SizeGiB));
        Assert.Equal("--disk", Assert.Throws<OmigException>(() => CliParsers.ParseDisk("vm1-root")).Field);
        Assert.Equal("--disk", Assert.Throws<OmigException>(() => CliParsers.ParseDisk("vm1-root:-1")).Field);

        var nic = CliParsers.ParseNic("vpc-1:10.0.0.5", "vm-1");
        Assert.Equal(("vpc-1", "10.0.0.5", CliParsers.DeriveMac("vm-1", "10.0.0.5")), (nic.VpcId, nic.Ip, nic.Mac));
        Assert.Equal("02:aa:bb:cc:dd:ee", CliParsers.ParseNic("vpc-1:10.0.0.5:02:aa:bb:cc:dd:ee", "vm-1").Mac);
        Assert.Equal("--nic", Assert.Throws<OmigException>(() => CliParsers.ParseNic("vpc-1", "vm-1")).Field);

        var device = CliParsers.ParsePassthrough("0000:3b:00.0=gpu");
        Assert.Equal(("0000:3b:00.0", "gpu"), (device.Address, device.Kind));
        Assert.Equal("--passthrough", Assert.Throws<OmigException>(() => CliParsers.ParsePassthrough("0000:3b:00.0")).Field);
    }

    [Fact]
    public void A_derived_MAC_is_stable_unicast_and_locally_administered()
    {
        var mac = CliParsers.DeriveMac("vm-1", "10.0.0.5");
        Assert.Equal(mac, CliParsers.DeriveMac("vm-1", "10.0.0.5"));
        Assert.NotEqual(mac, CliParsers.DeriveMac("vm-2", "10.0.0.5"));
        Assert.Matches("^02(:[0-9a-f]{2}){5}$", mac);
    }

    [Fact]
    public void Lists_split_on_commas_and_trim()
    {
        Assert.Equal(["avx", "avx2"], CliParsers.ParseList(" avx, avx2 ,,").ToArray());
        Assert.Empty(CliParsers.ParseList("  "));
    }
}
