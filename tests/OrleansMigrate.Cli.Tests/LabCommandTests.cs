using System.Diagnostics;
using System.Text.Json;
using OrleansMigrate.Cli.Lab;

namespace OrleansMigrate.Cli.Tests;

/// <summary><c>omig lab up|status|down</c> on this machine, run as an operator runs them: up twice in a row with a down in
/// between leaves nothing behind; a second up is refused; bad input changes nothing.</summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class LabCommandTests : IDisposable
{
    // Our own prefix and underlay, so a lab an operator has up on this machine (oml, 10.77.0.0/24) is never touched.
    private readonly string _prefix = $"omk{Environment.ProcessId % 1000}";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"omk-lab-{Environment.ProcessId}");

    public void Dispose()
    {
        _ = Omig("lab", "down", "--prefix", _prefix, "--dir", _dir);
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Up_status_down_twice_leaves_nothing_behind()
    {
        for (var round = 1; round <= 2; round++)
        {
            var up = Omig("lab", "up", "--prefix", _prefix, "--hosts", "2", "--underlay", "10.77.231.0/24", "--dir", _dir, "--json");
            Assert.True(up.Code == 0, $"round {round}: up exited {up.Code}: {up.Stderr}");
            using var upJson = JsonDocument.Parse(up.Stdout);
            Assert.Equal("10.77.231.2", upJson.RootElement.GetProperty("silo_configuration").GetProperty("Omig:Cloud:Disk:Nbd:ServerHost").GetString());

            var status = Omig("lab", "status", "--prefix", _prefix, "--dir", _dir, "--json");
            Assert.Equal(0, status.Code);
            using var json = JsonDocument.Parse(status.Stdout);
            var names = json.RootElement.GetProperty("namespaces").EnumerateArray().Select(n => n.GetProperty("name").GetString()!).ToArray();
            Assert.Equal([$"{_prefix}-cl", $"{_prefix}-h1", $"{_prefix}-h2", $"{_prefix}-st"], names);
            var daemon = Assert.Single(json.RootElement.GetProperty("processes").EnumerateArray());
            Assert.True(daemon.GetProperty("running").GetBoolean());
            var pid = daemon.GetProperty("pid").GetInt32();

            // The storage daemon serves NBD on the storage namespace's underlay address, reachable from a host namespace.
            var probe = Run("ip", "netns", "exec", $"{_prefix}-h1", "bash", "-c", "exec 3<>/dev/tcp/10.77.231.2/10809 && echo open");
            Assert.Contains("open", probe.Stdout);

            // A second up is refused (Conflict: exit 4) and changes nothing.
            Assert.Equal(4, Omig("lab", "up", "--prefix", _prefix, "--dir", _dir).Code);

            var down = Omig("lab", "down", "--prefix", _prefix, "--dir", _dir);
            Assert.True(down.Code == 0, $"round {round}: down exited {down.Code}: {down.Stderr}");
            Assert.DoesNotContain(_prefix + "-", Run("ip", "netns", "list").Stdout);
            Assert.DoesNotContain(_prefix + "-", Run("ip", "-o", "link").Stdout);
            Assert.False(IsRunning(pid), $"round {round}: the storage daemon (pid {pid}) still runs");
            Assert.Equal(3, Omig("lab", "status", "--prefix", _prefix, "--dir", _dir).Code);
        }
    }

    [Theory]
    [InlineData("--hosts", "0", "--hosts")]
    [InlineData("--vpc-subnet", "172.30.0.5/24", "--vpc-subnet")]
    [InlineData("--vpc-subnet", "nonsense", "--vpc-subnet")]
    [InlineData("--prefix", "Bad_Prefix", "--prefix")]
    public void Bad_input_is_refused_naming_the_option_and_makes_nothing(string option, string value, string named)
    {
        var prefix = option == "--prefix" ? value : _prefix;
        var result = Omig(["lab", "up", "--dir", _dir, .. option == "--prefix" ? Array.Empty<string>() : ["--prefix", _prefix], option, value]);

        Assert.Equal(2, result.Code);
        Assert.Contains(named, result.Stderr);
        Assert.DoesNotContain(_prefix + "-", Run("ip", "netns", "list").Stdout);
        Assert.False(File.Exists(Path.Combine(_dir, $"{prefix}.lab.json")));
    }

    [Theory]
    [InlineData("172.30.0.0/24", "172.30.0.1")]
    [InlineData("10.8.0.0/16", "10.8.0.1")]
    public void The_VMs_gateway_is_the_subnets_first_address(string subnet, string gateway) =>
        Assert.Equal(gateway, LabCommand.GatewayOf(subnet));

    private static bool IsRunning(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static (int Code, string Stdout, string Stderr) Omig(params string[] args) =>
        Run(["dotnet", RepoPaths.CliDll, .. args]);

    private static (int Code, string Stdout, string Stderr) Run(params string[] command)
    {
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in command.Skip(1))
            psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {command[0]}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', command)} did not finish within 60 s");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
