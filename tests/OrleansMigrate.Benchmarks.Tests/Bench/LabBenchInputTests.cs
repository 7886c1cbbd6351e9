using OrleansMigrate.Cli.Bench;
using OrleansMigrate.Errors;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig bench lab</c>'s input: the modes as the CLI spells them, and a PostgreSQL the lab's namespaces cannot
/// reach refused before anything is made.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class LabBenchInputTests
{
    [Fact]
    public void Modes_parse_in_order_once_each_in_any_spelling()
    {
        Assert.Equal([OrchestrationMode.NoSessionCopy, OrchestrationMode.Parallel, OrchestrationMode.NoRelay],
            BenchCommands.ParseModes("no-session-copy, parallel,no_relay,NoRelay"));
        Assert.Equal(["parallel", "serial", "no-relay", "no-session-copy"], Enum.GetValues<OrchestrationMode>().Select(LabBenchmark.ModeName));
    }

    [Theory]
    [InlineData("sideways")]
    [InlineData("parallel,2")]
    [InlineData(" , ")]
    public void A_bad_mode_list_is_refused_naming_modes(string text)
    {
        var ex = Assert.Throws<OmigException>(() => BenchCommands.ParseModes(text));
        Assert.Equal("--modes", ex.Field);
    }

    [Fact]
    public async Task A_connection_string_over_loopback_is_refused_before_anything_is_made()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"omig-lab-input-{Guid.NewGuid():N}");
        var options = new LabBenchOptions
        {
            ConnectionString = "Host=127.0.0.1;Port=5432;Database=x;Username=y;Password=z", SiloDll = "/nonexistent/omig-silo.dll",
            GuestDirectory = "/nonexistent", Prefix = "omi", Directory = dir,
        };
        var ex = await Assert.ThrowsAsync<OmigException>(() => LabCluster.StartAsync(options, _ => { }, CancellationToken.None));
        Assert.Equal(Environment.IsPrivilegedProcess ? OmigErrorCode.InvalidArgument : OmigErrorCode.Unavailable, ex.Code);
        if (Environment.IsPrivilegedProcess)
        {
            Assert.Equal("--connection-string", ex.Field);
        }

        Assert.False(Directory.Exists(dir));
        Assert.False(OrleansMigrate.Hypervisor.Linux.NetNamespace.Exists("omi-h1"));
    }
}
