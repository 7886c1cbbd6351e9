using System.Globalization;
using System.Text.Json;

namespace OrleansMigrate.Tests.Qemu;

/// <summary>The tests' helpers: where a guest runs, waits on the guest's position and on a migration's phase, and the guest images.</summary>
public sealed partial class QemuClusterTests
{
    private static async Task AssertRunsOnSourceAsync(OmigCli cli, string vmId)
    {
        var shown = await cli.JsonAsync("vm", "show", vmId);
        Assert.Equal("q-1", shown.GetProperty("vm").GetProperty("host_id").GetString());
        Assert.Equal("running", shown.GetProperty("hypervisor").GetProperty("state").GetString());
        var position = await EventuallyPositionAsync(cli, vmId, 0);
        await EventuallyPositionAsync(cli, vmId, 0, above: position);
        Assert.DoesNotContain(vmId, await RunningVmsAsync(cli, "q-2"));
    }

    private static async Task<string[]> RunningVmsAsync(OmigCli cli, string host)
    {
        var shown = await cli.JsonAsync("host", "show", host);
        return [.. shown.GetProperty("agent").GetProperty("running_vms").EnumerateArray().Select(e => e.GetString()!)];
    }

    /// <summary>Reads the guest's header through <c>omig vm qmp</c> (HMP <c>xp</c>, enabled on these test silos) until it has
    /// completed <paramref name="passes"/> passes and its position is above <paramref name="above"/>; returns the position.</summary>
    private static async Task<long> EventuallyPositionAsync(OmigCli cli, string vmId, long passes, long above = -1)
    {
        for (var i = 0; i < 60; i++)
        {
            var (code, stdout, stderr) = await cli.RunAsync("vm", "qmp", vmId, "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"xp /3wx 0x600\"}}");
            Assert.True(code == 0, $"omig vm qmp exited {code}: {stderr}");
            var text = JsonDocument.Parse(stdout).RootElement.GetProperty("return").GetString()!;
            var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var done = long.Parse(words[1].AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var position = long.Parse(words[2].AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            Assert.Equal("0x4f4d4947", words[3].Trim());
            if (done >= passes && position > above)
            {
                return position;
            }

            await Task.Delay(500);
        }

        throw new TimeoutException($"{vmId} did not reach {passes} passes / position above {above} within 30 s");
    }

    private static async Task EventuallyPreCopyAsync(OmigCli cli, string migrationId)
    {
        for (var i = 0; i < 120; i++)
        {
            var status = await cli.JsonAsync("migration", "show", migrationId);
            var phase = status.GetProperty("phase").GetString()!;
            if (phase is "pre_copy" or "pre_last_copy" && status.GetProperty("progress").GetProperty("bytes_sent").GetInt64() > 0)
            {
                return;
            }

            Assert.False(status.GetProperty("phase").GetString() is "completed" or "rolled_back" or "failed", $"the migration ended before it could be interrupted: {status}");
            await Task.Delay(250);
        }

        throw new TimeoutException($"migration {migrationId} did not reach pre-copy with bytes sent within 30 s");
    }

    private static async Task<JsonElement> EventuallyEndedAsync(OmigCli cli, string migrationId)
    {
        for (var i = 0; i < 120; i++)
        {
            var status = await cli.JsonAsync("migration", "show", migrationId);
            if (status.GetProperty("phase").GetString() is "completed" or "rolled_back" or "failed")
            {
                return status;
            }

            await Task.Delay(500);
        }

        throw new TimeoutException($"migration {migrationId} did not end within 60 s");
    }

    /// <summary>Each VM boots its own copy of the guest: QEMU locks a disk image for writing, as a cloud disk belongs to one VM.</summary>
    private static string ImageFor(string vmId, bool fast)
    {
        var path = Path.Combine(Images.Value.Dir, $"{vmId}-{Guid.NewGuid():N}.img");
        File.Copy(fast ? Images.Value.Fast : Images.Value.Slow, path);
        return path;
    }

    private static (string Dir, string Slow, string Fast) BuildImages()
    {
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"omqi-{Environment.ProcessId}")).FullName;
        var build = Path.Combine(RepoPaths.Root, "guest", "build.sh");
        var slow = Path.Combine(dir, "dirty-guest.img");
        var fast = Path.Combine(dir, "dirty-guest-fast.img");

        // Slow: 16 MiB dirtied at about 75 MB/s under TCG, converges in well under a second. Fast: 256 MiB, every page
        // rewritten within a fraction of a second, so pre-copy cannot reach a 20 ms downtime and keeps iterating (the
        // policy escalates only after 10 s stalls) long enough to be interrupted.
        foreach (var (path, pages, delay) in new[] { (slow, "4096", "20000"), (fast, "65536", "100") })
        {
            var (code, _, stderr) = ProcessRunner.RunAsync("bash", [build, path, pages, delay], TimeSpan.FromMinutes(3)).GetAwaiter().GetResult();
            if (code != 0)
            {
                throw new InvalidOperationException($"guest/build.sh failed: {stderr}");
            }
        }

        return (dir, slow, fast);
    }
}
