using System.Text.Json;

namespace OrleansMigrate.Tests.Qemu;

/// <summary>
/// Real QEMU guests (our dirtying boot sector) on two host silos in separate processes, plus a control silo, on
/// PostgreSQL, driven through the real CLI: a live migration checked for memory consistency on the destination,
/// cancel mid-migration, the destination QEMU killed mid-migration, and <c>omig vm qmp</c>.
/// </summary>
[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed partial class QemuClusterTests(PostgresFixture pg)
{
    private static readonly Lazy<(string Dir, string Slow, string Fast)> Images = new(BuildImages);

    /// <summary>A policy whose pre-copy never stalls out or times out within a test: a migration the test means to
    /// interrupt (cancel, kill a QEMU) stays in pre-copy until it does, however slowly a loaded machine runs the test.</summary>
    private const string HoldPolicy = "hold";

    private static readonly string[] HoldPolicyArgs =
        ["--Omig:Policies:hold:StallMs=3600000", "--Omig:Policies:hold:CompletionTimeoutMsPerGiB=86400000",
         "--Omig:Policies:postcopy:PostCopy=true", "--Omig:Policies:postcopy:StallMs=1000", "--Omig:Policies:postcopy:MaxDowntimeTargetMs=20", "--Omig:Policies:postcopy:CompletionTimeoutMsPerGiB=86400000",
         "--Omig:Policies:postcopy:LinkBandwidthBytesPerSecond=25000000", "--Omig:Policies:multi:MigrationChannels=4",
         // A class that never live-migrates and gives its guests 1.5 s to power off before a cold move stops them hard.
         "--Omig:Policies:coldq:LiveMigrate=false", "--Omig:Policies:coldq:ColdShutdownTimeoutMs=1500"];

    /// <summary>QEMU multifd on four channels, set on both QEMUs by the control plane.</summary>
    private const string MultifdPolicy = "multi";

    /// <summary>Post-copy allowed, switched to at the first 1 s stall (no escalation: the cap is the target), on a 25 MB/s link: the fast guest's 256 MiB never converge, and
    /// after the switch the source needs seconds to send the rest while the destination runs.</summary>
    private const string PostCopyPolicy = "postcopy";

    [Fact]
    public async Task A_QEMU_guest_live_migrates_between_host_silos_consistent_and_advancing_and_qmp_passes_through()
    {
        await using var cluster = await QemuCluster.StartAsync(pg.ConnectionString);
        var cli = cluster.Cli;
        await cli.JsonAsync("vm", "create", "vm-q", "--host", "q-1", "--memory", "128", "--image", ImageFor("vm-q", fast: false), "--nic", "vpc-q:10.7.0.5");
        var before = await EventuallyPositionAsync(cli, "vm-q", 1);

        // The QMP passthrough: a read-only command round-trips; quit is refused and changes nothing.
        var status = await cli.RunAsync("vm", "qmp", "vm-q", "{\"execute\":\"query-status\"}");
        Assert.Equal(0, status.Code);
        Assert.Equal("running", JsonDocument.Parse(status.Stdout).RootElement.GetProperty("return").GetProperty("status").GetString());
        var quit = await cli.RunAsync("vm", "qmp", "vm-q", "{\"execute\":\"quit\"}");
        Assert.Equal(2, quit.Code);
        Assert.Contains("not allowed", quit.Stderr, StringComparison.Ordinal);
        var malformed = await cli.RunAsync("vm", "qmp", "vm-q", "{\"execute\":");
        Assert.Equal(2, malformed.Code);
        Assert.Contains("not JSON", malformed.Stderr, StringComparison.Ordinal);

        var report = await cli.JsonAsync("vm", "migrate", "vm-q", "--to", "q-2", "--wait");
        Assert.Equal("completed", report.GetProperty("phase").GetString());
        Assert.Equal(JsonValueKind.Null, report.GetProperty("failure").ValueKind);
        var hypervisor = report.GetProperty("hypervisor");
        Assert.Equal("qemu", hypervisor.GetProperty("driver").GetString());
        Assert.True(hypervisor.GetProperty("downtime_ms").GetDouble() > 0);
        Assert.True(report.GetProperty("downtime").GetProperty("downtime_ms").GetDouble() > 0);

        // Every switchover step on one clock, from QEMU's own events: the source's STOP at 0, its pre-switchover
        // event, the continue and the completion in that order on q-1, and the destination's RESUME on q-2 last, at
        // exactly the downtime reported.
        var downtime = report.GetProperty("downtime");
        var steps = downtime.GetProperty("timeline").EnumerateArray()
            .Select(t => (Step: t.GetProperty("step").GetString()!, Host: t.GetProperty("host").GetString()!, At: t.GetProperty("start_ms").GetDouble()))
            .ToList();
        double At(string step, string host) => Assert.Single(steps, t => t.Step == step && t.Host == host).At;
        Assert.Equal(0, At("STOP", "q-1"));
        var pre = At("pre-switchover event", "q-1");
        var cont = At("continue sent", "q-1");
        var completed = At("completed", "q-1");
        var resumed = At("RESUME", "q-2");
        Assert.True(pre >= 0 && pre <= cont && cont <= completed && completed <= resumed, string.Join(", ", steps));
        Assert.Equal(downtime.GetProperty("downtime_ms").GetDouble(), resumed, 1);
        Assert.True(downtime.GetProperty("critical_path_calls").GetInt32() >= 3, downtime.GetRawText());

        // The destination's agent read the guest's memory after the resume: a verdict, not "nothing failed".
        var check = report.GetProperty("guest_check");
        Assert.True(check.GetProperty("verdict").GetString() == "consistent", check.GetRawText());

        var shown = await cli.JsonAsync("vm", "show", "vm-q");
        Assert.Equal("q-2", shown.GetProperty("vm").GetProperty("host_id").GetString());
        Assert.Equal("running", shown.GetProperty("hypervisor").GetProperty("state").GetString());
        Assert.Contains("qemu pid", shown.GetProperty("hypervisor").GetProperty("detail").GetString(), StringComparison.Ordinal);

        // The destination checked the guest's memory pattern right after it resumed (a failed check fails the
        // migration, asserted above); here: it carries on from the migrated state and keeps advancing.
        var after = await EventuallyPositionAsync(cli, "vm-q", 0);
        Assert.True(after >= before, $"the destination resumed from the migrated state ({after} >= {before})");
        await EventuallyPositionAsync(cli, "vm-q", 0, above: after);
        Assert.DoesNotContain("vm-q", await RunningVmsAsync(cli, "q-1"));

        // Back to q-1 on four multifd channels: the policy's channel count reaches both QEMUs through the control plane,
        // QEMU reports running on them, and the guest is as consistent as on one stream.
        var back = await cli.JsonAsync("vm", "migrate", "vm-q", "--to", "q-1", "--policy", MultifdPolicy, "--wait");
        Assert.True(back.GetProperty("phase").GetString() == "completed", back.ToString());
        Assert.Equal(4, back.GetProperty("hypervisor").GetProperty("migration_channels").GetInt32());
        Assert.True(back.GetProperty("guest_check").GetProperty("verdict").GetString() == "consistent", back.GetProperty("guest_check").GetRawText());
        var home = await EventuallyPositionAsync(cli, "vm-q", 0);
        await EventuallyPositionAsync(cli, "vm-q", 0, above: home);
        Assert.DoesNotContain("vm-q", await RunningVmsAsync(cli, "q-2"));
    }

    /// <summary>The boot-sector guest has no ACPI: QMP <c>system_powerdown</c> is ignored, so the move waits out the policy's
    /// timeout and stops QEMU with <c>quit</c>; the destination boots a new QEMU from the same image, which runs again from
    /// its start. (A guest that honours the power-down — QEMU exiting by itself, the graceful path — is not part of this
    /// test: the Linux test guest's initramfs runs no ACPI daemon either.)</summary>
    [Fact]
    public async Task A_QEMU_guest_is_moved_cold_stopped_hard_after_the_power_down_timeout_and_booted_on_the_destination()
    {
        await using var cluster = await QemuCluster.StartAsync(pg.ConnectionString);
        var cli = cluster.Cli;
        await cli.JsonAsync("vm", "create", "vm-k", "--host", "q-1", "--memory", "128", "--image", ImageFor("vm-k", fast: false), "--nic", "vpc-q:10.7.0.9");
        await EventuallyPositionAsync(cli, "vm-k", 1);

        // Never live: refused with the reason; cold: moved.
        var live = await cli.RunAsync("vm", "migrate", "vm-k", "--to", "q-2", "--policy", "coldq");
        Assert.Equal(6, live.Code);
        Assert.Contains("never live-migrates", live.Stderr, StringComparison.Ordinal);
        var report = await cli.JsonAsync("vm", "migrate", "vm-k", "--to", "q-2", "--policy", "coldq", "--cold", "--wait");

        Assert.True(report.GetProperty("phase").GetString() == "completed", report.GetRawText());
        Assert.True(report.GetProperty("request").GetProperty("cold").GetBoolean());
        var cold = report.GetProperty("cold");
        Assert.False(cold.GetProperty("graceful").GetBoolean());
        Assert.True(cold.GetProperty("shutdown_ms").GetDouble() >= 1400, cold.GetRawText());
        var downtime = cold.GetProperty("downtime_ms").GetDouble();
        Assert.True(downtime > 0, cold.GetRawText());
        Assert.Equal(downtime, report.GetProperty("downtime").GetProperty("downtime_ms").GetDouble(), 1);

        var shown = await cli.JsonAsync("vm", "show", "vm-k");
        Assert.Equal("q-2", shown.GetProperty("vm").GetProperty("host_id").GetString());
        Assert.Equal("running", shown.GetProperty("hypervisor").GetProperty("state").GetString());
        Assert.Contains("qemu pid", shown.GetProperty("hypervisor").GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("vm-k", await RunningVmsAsync(cli, "q-1"));

        // A fresh boot on q-2 that runs: it completes passes over its memory again.
        var position = await EventuallyPositionAsync(cli, "vm-k", 1);
        await EventuallyPositionAsync(cli, "vm-k", 0, above: position);
        var audit = await cli.RunAsync("audit", "--json");
        Assert.True(audit.Code == 0, $"omig audit exited {audit.Code}: {audit.Stdout} {audit.Stderr}");
    }

    [Fact]
    public async Task Cancel_mid_migration_keeps_the_guest_running_on_the_source_and_reaps_the_destination()
    {
        await using var cluster = await QemuCluster.StartAsync(pg.ConnectionString);
        var cli = cluster.Cli;
        await cli.JsonAsync("vm", "create", "vm-c", "--host", "q-1", "--memory", "320", "--image", ImageFor("vm-c", fast: true), "--nic", "vpc-q:10.7.0.6");
        await EventuallyPositionAsync(cli, "vm-c", 1);

        var id = (await cli.JsonAsync("vm", "migrate", "vm-c", "--to", "q-2", "--policy", HoldPolicy)).GetProperty("migration_id").GetString()!;
        await EventuallyPreCopyAsync(cli, id);
        await cli.JsonAsync("migration", "cancel", id);
        var ended = await EventuallyEndedAsync(cli, id);
        Assert.Equal("rolled_back", ended.GetProperty("phase").GetString());

        await AssertRunsOnSourceAsync(cli, "vm-c");

        // The auditor agrees: every invariant holds after the rollback...
        var clean = await cli.RunAsync("audit", "--json");
        Assert.True(clean.Code == 0, $"omig audit exited {clean.Code}: {clean.Stdout} {clean.Stderr}");
        Assert.Empty(JsonDocument.Parse(clean.Stdout).RootElement.GetProperty("findings").EnumerateArray());

        // ...and notices a guest that died behind the registry's back (its QEMU killed outside any migration).
        var (_, pids, _) = await ProcessRunner.RunAsync("pgrep", ["-f", "guest=vm-c,"], TimeSpan.FromSeconds(10));
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            await ProcessRunner.RunAsync("kill", ["-KILL", pid.Trim()], TimeSpan.FromSeconds(10));
        }

        var found = await cli.RunAsync("audit", "--json");
        Assert.Equal(1, found.Code);
        var finding = Assert.Single(JsonDocument.Parse(found.Stdout).RootElement.GetProperty("findings").EnumerateArray());
        Assert.Equal("vm-runs-once", finding.GetProperty("invariant").GetString());
        Assert.Equal("vm-c", finding.GetProperty("subject").GetString());
    }

    [Fact]
    public async Task The_destination_QEMU_killed_mid_migration_rolls_back_with_the_guest_running_on_the_source()
    {
        await using var cluster = await QemuCluster.StartAsync(pg.ConnectionString);
        var cli = cluster.Cli;
        await cli.JsonAsync("vm", "create", "vm-k", "--host", "q-1", "--memory", "320", "--image", ImageFor("vm-k", fast: true), "--nic", "vpc-q:10.7.0.7");
        await EventuallyPositionAsync(cli, "vm-k", 1);

        var id = (await cli.JsonAsync("vm", "migrate", "vm-k", "--to", "q-2", "--policy", HoldPolicy)).GetProperty("migration_id").GetString()!;
        await EventuallyPreCopyAsync(cli, id);
        var (code, stdout, _) = await ProcessRunner.RunAsync("pgrep", ["-f", "guest=vm-k,.*-incoming defer"], TimeSpan.FromSeconds(10));
        Assert.True(code == 0, "the destination QEMU runs");
        foreach (var pid in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            await ProcessRunner.RunAsync("kill", ["-KILL", pid.Trim()], TimeSpan.FromSeconds(10));
        }

        var ended = await EventuallyEndedAsync(cli, id);
        Assert.Equal("rolled_back", ended.GetProperty("phase").GetString());
        Assert.NotEqual(JsonValueKind.Null, ended.GetProperty("failure").ValueKind);
        await AssertRunsOnSourceAsync(cli, "vm-k");
    }

    [Fact]
    public async Task A_guest_that_never_converges_moves_in_post_copy_when_its_policy_allows_and_runs_consistent_on_the_destination()
    {
        await using var cluster = await QemuCluster.StartAsync(pg.ConnectionString);
        var cli = cluster.Cli;
        await cli.JsonAsync("vm", "create", "vm-pc", "--host", "q-1", "--memory", "320", "--image", ImageFor("vm-pc", fast: true), "--nic", "vpc-q:10.7.0.11");
        await EventuallyPositionAsync(cli, "vm-pc", 1);

        var id = (await cli.JsonAsync("vm", "migrate", "vm-pc", "--to", "q-2", "--policy", PostCopyPolicy)).GetProperty("migration_id").GetString()!;
        var ended = await EventuallyEndedAsync(cli, id);

        Assert.True(ended.GetProperty("phase").GetString() == "completed", ended.ToString());
        var hv = ended.GetProperty("hypervisor");
        Assert.True(hv.GetProperty("post_copy_ms").GetDouble() > 0, $"the migration ran in post-copy: {hv}");
        Assert.Equal(JsonValueKind.Null, hv.GetProperty("post_copy_failure").ValueKind);
        var check = ended.GetProperty("guest_check");
        Assert.True(check.GetProperty("verdict").GetString() == "consistent", check.GetRawText());
        var shown = await cli.JsonAsync("vm", "show", "vm-pc");
        Assert.Equal("q-2", shown.GetProperty("vm").GetProperty("host_id").GetString());
        var position = await EventuallyPositionAsync(cli, "vm-pc", 0);
        await EventuallyPositionAsync(cli, "vm-pc", 0, above: position);
    }

    [Fact]
    public async Task The_destination_QEMU_killed_during_post_copy_fails_the_migration_and_reports_the_VM_lost_with_the_reason()
    {
        await using var cluster = await QemuCluster.StartAsync(pg.ConnectionString);
        var cli = cluster.Cli;
        await cli.JsonAsync("vm", "create", "vm-pl", "--host", "q-1", "--memory", "320", "--image", ImageFor("vm-pl", fast: true), "--nic", "vpc-q:10.7.0.12");
        await EventuallyPositionAsync(cli, "vm-pl", 1);

        var id = (await cli.JsonAsync("vm", "migrate", "vm-pl", "--to", "q-2", "--policy", PostCopyPolicy)).GetProperty("migration_id").GetString()!;

        // Past the commit point the destination runs while the source still sends the pages it lacks: kill it then.
        for (var i = 0; i < 240 && (await cli.JsonAsync("migration", "show", id)).GetProperty("phase").GetString() != "post_migration"; i++)
        {
            await Task.Delay(250);
        }

        var (code, stdout, _) = await ProcessRunner.RunAsync("pgrep", ["-f", "guest=vm-pl,.*-incoming defer"], TimeSpan.FromSeconds(10));
        Assert.True(code == 0, "the destination QEMU runs");
        foreach (var pid in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            await ProcessRunner.RunAsync("kill", ["-KILL", pid.Trim()], TimeSpan.FromSeconds(10));
        }

        var ended = await EventuallyEndedAsync(cli, id);
        Assert.True(ended.GetProperty("phase").GetString() == "failed", ended.ToString());
        var failure = ended.GetProperty("failure").GetString()!;
        Assert.Contains("lost in post-copy", failure, StringComparison.Ordinal);
        Assert.Contains("restart", failure, StringComparison.Ordinal);
        Assert.Contains("lost", ended.GetProperty("hypervisor").GetProperty("post_copy_failure").GetString(), StringComparison.Ordinal);
        var shown = await cli.JsonAsync("vm", "show", "vm-pl");
        Assert.Equal("lost", shown.GetProperty("vm").GetProperty("power").GetString());
        Assert.Equal("q-2", shown.GetProperty("vm").GetProperty("host_id").GetString());
        Assert.DoesNotContain("vm-pl", await RunningVmsAsync(cli, "q-1"));
        Assert.DoesNotContain("vm-pl", await RunningVmsAsync(cli, "q-2"));

        // The invariant audit sees the loss as recorded: the VM runs nowhere, and nothing else is out of place.
        var audit = await cli.RunAsync("audit");
        Assert.True(audit.Code == 0, audit.Stdout + audit.Stderr);
    }

    [Fact]
    public async Task The_source_QEMU_killed_mid_migration_fails_it_and_reports_the_VM_lost_never_silently()
    {
        await using var cluster = await QemuCluster.StartAsync(pg.ConnectionString);
        var cli = cluster.Cli;
        await cli.JsonAsync("vm", "create", "vm-l", "--host", "q-1", "--memory", "320", "--image", ImageFor("vm-l", fast: true), "--nic", "vpc-q:10.7.0.8");
        await EventuallyPositionAsync(cli, "vm-l", 1);

        var id = (await cli.JsonAsync("vm", "migrate", "vm-l", "--to", "q-2", "--policy", HoldPolicy)).GetProperty("migration_id").GetString()!;
        await EventuallyPreCopyAsync(cli, id);
        var (code, stdout, _) = await ProcessRunner.RunAsync("pgrep", ["-f", "guest=vm-l,"], TimeSpan.FromSeconds(10));
        Assert.True(code == 0, "the QEMU processes of vm-l run");
        var (_, incoming, _) = await ProcessRunner.RunAsync("pgrep", ["-f", "guest=vm-l,.*-incoming defer"], TimeSpan.FromSeconds(10));
        var sources = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Except(incoming.Split('\n', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Single(sources);
        await ProcessRunner.RunAsync("kill", ["-KILL", sources[0].Trim()], TimeSpan.FromSeconds(10));

        var ended = await EventuallyEndedAsync(cli, id);
        Assert.Equal("failed", ended.GetProperty("phase").GetString());
        Assert.Contains("lost", ended.GetProperty("failure").GetString(), StringComparison.Ordinal);
        Assert.Contains("restart", ended.GetProperty("failure").GetString(), StringComparison.Ordinal);

        var shown = await cli.JsonAsync("vm", "show", "vm-l");
        Assert.Equal("q-1", shown.GetProperty("vm").GetProperty("host_id").GetString());
        Assert.Equal("lost", shown.GetProperty("vm").GetProperty("power").GetString());
        Assert.Equal("lost", shown.GetProperty("hypervisor").GetProperty("state").GetString());
        Assert.Contains("exited", shown.GetProperty("hypervisor").GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("vm-l", await RunningVmsAsync(cli, "q-2"));
        Assert.DoesNotContain("vm-l", await RunningVmsAsync(cli, "q-1"));

        // The operator restarts it: it boots on its host and runs again.
        var started = await cli.JsonAsync("vm", "start", "vm-l");
        Assert.Equal("running", started.GetProperty("power").GetString());
        Assert.Contains("vm-l", await RunningVmsAsync(cli, "q-1"));
        var position = await EventuallyPositionAsync(cli, "vm-l", 0);
        await EventuallyPositionAsync(cli, "vm-l", 0, above: position);
        var again = await cli.RunAsync("vm", "start", "vm-l");
        Assert.Equal(4, again.Code);
    }

    [Fact]
    public async Task A_restarted_host_silo_adopts_its_running_QEMU_guest_instead_of_booting_a_second_copy()
    {
        await using var cluster = await QemuCluster.StartAsync(pg.ConnectionString);
        var cli = cluster.Cli;
        await cli.JsonAsync("vm", "create", "vm-a", "--host", "q-1", "--memory", "128", "--image", ImageFor("vm-a", fast: false));
        var position = await EventuallyPositionAsync(cli, "vm-a", 1);
        var detail = (await cli.JsonAsync("vm", "show", "vm-a")).GetProperty("hypervisor").GetProperty("detail").GetString()!;

        // A graceful restart of the agent's silo: the guest runs on (as guests outlive libvirtd) and is adopted.
        await cluster.RestartHostSiloAsync(0);
        var shown = await cli.JsonAsync("vm", "show", "vm-a");
        Assert.Equal("running", shown.GetProperty("hypervisor").GetProperty("state").GetString());
        Assert.Equal(Pid(detail), Pid(shown.GetProperty("hypervisor").GetProperty("detail").GetString()!));
        var (_, instances, _) = await ProcessRunner.RunAsync("pgrep", ["-f", "guest=vm-a,"], TimeSpan.FromSeconds(10));
        Assert.Single(instances.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(await EventuallyPositionAsync(cli, "vm-a", 0, above: position) > position);

        static string Pid(string detail) => detail.Split(',')[0];
    }
}
