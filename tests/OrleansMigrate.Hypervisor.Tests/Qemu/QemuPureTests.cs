using System.Buffers.Binary;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class QmpAllowListTests
{
    [Theory]
    [InlineData("""{"execute":"query-status"}""", "query-status")]
    [InlineData("""  {"execute": "query-migrate", "arguments": {}}  """, "query-migrate")]
    [InlineData("""{"arguments":{"calc-time":1},"execute":"calc-dirty-rate"}""", "calc-dirty-rate")]
    [InlineData("""{"execute":"stop"}""", "stop")]
    [InlineData("""{"execute":"cont"}""", "cont")]
    public void Default_commands_pass_with_their_arguments(string text, string command)
    {
        var (parsed, arguments) = QmpAllowList.Parse(text, new QemuDriverOptions());
        Assert.Equal(command, parsed);
        if (text.Contains("calc-time", StringComparison.Ordinal))
            Assert.Equal(1, arguments!["calc-time"]!.GetValue<int>());
        Assert.Null(arguments?.Parent);
    }

    [Fact]
    public void A_command_passes_only_once_configured()
    {
        const string Text = """{"execute":"device_del","arguments":{"id":"nic0"}}""";
        var ex = Assert.Throws<ArgumentException>(() => QmpAllowList.Parse(Text, new QemuDriverOptions()));
        Assert.Contains("'device_del' is not allowed", ex.Message, StringComparison.Ordinal);

        var options = new QemuDriverOptions();
        options.QmpAllow.Add("device_del");
        var (command, arguments) = QmpAllowList.Parse(Text, options);
        Assert.Equal("device_del", command);
        Assert.Equal("nic0", arguments!["id"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("quit")]
    [InlineData("migrate")]
    [InlineData("migrate_cancel")]
    [InlineData("migrate-set-capabilities")]
    [InlineData("pmemsave")]
    [InlineData("qmp_capabilities")]
    [InlineData("getfd")]
    public void Dangerous_commands_never_pass_even_when_listed(string command)
    {
        var options = new QemuDriverOptions { AllowHumanMonitor = true };
        options.QmpAllow.Add(command);
        Assert.False(QmpAllowList.IsAllowed(command, options));
        var ex = Assert.Throws<ArgumentException>(() => QmpAllowList.Parse($$"""{"execute":"{{command}}"}""", options));
        Assert.Contains($"'{command}' is not allowed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Human_monitor_passes_only_with_AllowHumanMonitor()
    {
        const string Text = """{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}""";
        var listed = new QemuDriverOptions();
        listed.QmpAllow.Add("human-monitor-command");
        foreach (var options in new[] { new QemuDriverOptions(), listed })
        {
            var ex = Assert.Throws<ArgumentException>(() => QmpAllowList.Parse(Text, options));
            Assert.Contains("'human-monitor-command' is not allowed", ex.Message, StringComparison.Ordinal);
            Assert.Contains("AllowHumanMonitor", ex.Message, StringComparison.Ordinal);
        }

        var (command, arguments) = QmpAllowList.Parse(Text, new QemuDriverOptions { AllowHumanMonitor = true });
        Assert.Equal("human-monitor-command", command);
        Assert.Equal("info status", arguments!["command-line"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("""{"execute":"query-status" """, "not JSON")]
    [InlineData("""{"execute":"query-status"} {"execute":"quit"}""", "not JSON")]
    [InlineData("""[{"execute":"query-status"}]""", "must be a JSON object")]
    [InlineData("\"query-status\"", "must be a JSON object")]
    [InlineData("null", "must be a JSON object")]
    [InlineData("""{"execute":"query-status","id":"x"}""", "member 'id'")]
    [InlineData("""{"execute":"query-status","control":{"run-oob":true}}""", "member 'control'")]
    [InlineData("""{"arguments":{}}""", "\"execute\" must be a QMP command name")]
    [InlineData("""{"execute":42}""", "\"execute\" must be a QMP command name")]
    [InlineData("""{"execute":"Query-Status"}""", "\"execute\" must be a QMP command name")]
    [InlineData("""{"execute":"query status"}""", "\"execute\" must be a QMP command name")]
    [InlineData("""{"execute":"query-status;quit"}""", "\"execute\" must be a QMP command name")]
    [InlineData("""{"execute":""}""", "\"execute\" must be a QMP command name")]
    [InlineData("""{"execute":"query-status","arguments":[1]}""", "\"arguments\" must be a JSON object")]
    [InlineData("""{"execute":"query-status","arguments":"x"}""", "\"arguments\" must be a JSON object")]
    [InlineData("""{"execute":"query-status","execute":"quit"}""", "the member 'execute' more than once")]
    [InlineData("""{"execute":"calc-dirty-rate","arguments":{"calc-time":1,"calc-time":2}}""", "the member 'calc-time' more than once")]
    public void Malformed_commands_are_refused_naming_the_problem(string text, string problem)
    {
        var ex = Assert.Throws<ArgumentException>(() => QmpAllowList.Parse(text, new QemuDriverOptions()));
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Oversize_text_is_refused_before_parsing()
    {
        var padding = new string(' ', QmpAllowList.MaxCommandBytes);
        var ex = Assert.Throws<ArgumentException>(() => QmpAllowList.Parse("""{"execute":"query-status"}""" + padding, new QemuDriverOptions()));
        Assert.Contains($"over {QmpAllowList.MaxCommandBytes} bytes", ex.Message, StringComparison.Ordinal);

        // Just under the limit passes.
        var fits = """{"execute":"query-status"}""";
        Assert.Equal("query-status", QmpAllowList.Parse(fits + new string(' ', QmpAllowList.MaxCommandBytes - fits.Length), new QemuDriverOptions()).Command);
    }

    [Fact]
    public void Deep_nesting_is_refused_as_not_json()
    {
        var deep = """{"execute":"query-status","arguments":""" + string.Concat(Enumerable.Repeat("""{"a":""", 40)) + "1" + new string('}', 41);
        var ex = Assert.Throws<ArgumentException>(() => QmpAllowList.Parse(deep, new QemuDriverOptions()));
        Assert.Contains("not JSON", ex.Message, StringComparison.Ordinal);
    }
}

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DirtyGuestTests
{
    private const uint Base = 0x100000;

    [Fact]
    public void A_consistent_snapshot_passes()
    {
        var (header, region) = Snapshot(pages: 8, position: 29);
        Assert.Equal(3u, header.PassesCompleted);
        var report = DirtyGuest.Verify(header, region);
        Assert.True(report.Consistent, report.Summary);
        Assert.Equal(8, report.PagesChecked);
        Assert.Empty(report.Problems);
        Assert.StartsWith("consistent", report.Summary, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(29u, 5u)]
    [InlineData(16u, 0u)]
    [InlineData(7u, 7u)]
    public void Page_r_may_already_hold_the_next_pass(uint position, uint r)
    {
        var (header, region) = Snapshot(pages: 8, position);
        SetPage(region, r, (position / 8) + 1);
        var report = DirtyGuest.Verify(header, region);
        Assert.True(report.Consistent, report.Summary);
    }

    [Fact]
    public void A_stale_page_in_the_middle_is_detected()
    {
        var (header, region) = Snapshot(pages: 8, position: 29);
        SetPage(region, 2, 3);
        var report = DirtyGuest.Verify(header, region);
        Assert.False(report.Consistent);
        Assert.Equal(1, report.StalePages);
        Assert.Equal(0, report.CorruptPages);
        var problem = Assert.Single(report.Problems);
        Assert.Equal(2, problem.PageIndex);
        Assert.Equal(PageProblemKind.Stale, problem.Kind);
        Assert.Contains("page 2 holds pass 3, expected 4", problem.Detail, StringComparison.Ordinal);
        Assert.StartsWith("INCONSISTENT", report.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void A_page_ahead_of_the_position_is_detected()
    {
        var (header, region) = Snapshot(pages: 8, position: 29);
        SetPage(region, 6, 4);
        var report = DirtyGuest.Verify(header, region);
        Assert.False(report.Consistent);
        Assert.Equal(1, report.CorruptPages);
        Assert.Equal(0, report.StalePages);
        var problem = Assert.Single(report.Problems);
        Assert.Equal(6, problem.PageIndex);
        Assert.Equal(PageProblemKind.Corrupt, problem.Kind);
    }

    [Fact]
    public void Two_passes_ahead_at_page_r_is_not_tolerated()
    {
        var (header, region) = Snapshot(pages: 8, position: 29);
        SetPage(region, 5, 5);
        Assert.False(DirtyGuest.Verify(header, region).Consistent);
    }

    [Fact]
    public void A_header_without_the_magic_or_with_nonsense_fields_reads_as_null()
    {
        var bytes = HeaderBytes(3, 29, DirtyGuest.Magic, 8, Base);
        Assert.NotNull(DirtyGuest.ReadHeader(bytes));
        Assert.Equal(new DirtyGuest.Header(3, 29, 8, Base), DirtyGuest.ReadHeader(bytes));
        Assert.Null(DirtyGuest.ReadHeader(HeaderBytes(3, 29, 0x4749_4d4f, 8, Base)));
        Assert.Null(DirtyGuest.ReadHeader(new byte[DirtyGuest.HeaderBytes]));
        Assert.Null(DirtyGuest.ReadHeader(HeaderBytes(3, 29, DirtyGuest.Magic, 0, Base)));
        Assert.Null(DirtyGuest.ReadHeader(HeaderBytes(3, 29, DirtyGuest.Magic, 65537, Base)));
        Assert.Null(DirtyGuest.ReadHeader(HeaderBytes(3, 29, DirtyGuest.Magic, 8, Base + 8)));
        Assert.Throws<ArgumentException>(() => DirtyGuest.ReadHeader(new byte[DirtyGuest.HeaderBytes - 1]));
    }

    [Fact]
    public void A_short_region_is_refused()
    {
        var (header, region) = Snapshot(pages: 8, position: 29);
        Assert.Throws<ArgumentException>(() => DirtyGuest.Verify(header, region.AsSpan(0, region.Length - 1)));
    }

    private static (DirtyGuest.Header Header, byte[] Region) Snapshot(uint pages, uint position)
    {
        var header = DirtyGuest.ReadHeader(HeaderBytes(position / pages, position, DirtyGuest.Magic, pages, Base))!;
        var region = new byte[header.RegionBytes];
        for (var i = 0u; i < pages; i++)
            SetPage(region, i, i < position % pages ? (position / pages) + 1 : position / pages);

        // Only the first dword of a page is the guest's; the rest must not matter.
        region[4100] = 0xff;
        return (header, region);
    }

    private static void SetPage(byte[] region, uint page, uint pass) =>
        BinaryPrimitives.WriteUInt32LittleEndian(region.AsSpan((int)(page * 4096)), pass);

    private static byte[] HeaderBytes(uint passes, uint position, uint magic, uint pages, uint @base)
    {
        var bytes = new byte[DirtyGuest.HeaderBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, passes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), position);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), magic);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), pages);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), @base);
        return bytes;
    }
}

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class QemuMigrationStatsTests
{
    // query-migrate of QEMU 7.2 on the source during pre-copy (64 MiB guest, auto-converge throttling).
    private const string Active = """
        {"return": {"expected-downtime": 41, "status": "active", "setup-time": 2, "total-time": 1523,
          "cpu-throttle-percentage": 20,
          "ram": {"total": 68034560, "postcopy-requests": 0, "dirty-sync-count": 3, "multifd-bytes": 0,
            "pages-per-second": 4882, "downtime-bytes": 0, "page-size": 4096, "remaining": 1048576,
            "postcopy-bytes": 0, "mbps": 160.1832, "transferred": 20054321, "dirty-sync-missed-zero-copy": 0,
            "precopy-bytes": 20054321, "duplicate": 12345, "dirty-pages-rate": 4400, "skipped": 0,
            "normal-bytes": 19660800, "normal": 4800},
          "blocked": false}}
        """;

    private const string Completed = """
        {"return": {"status": "completed", "setup-time": 2, "downtime": 12, "total-time": 2100,
          "ram": {"total": 68034560, "dirty-sync-count": 7, "page-size": 4096, "remaining": 0,
            "mbps": 212.5, "transferred": 31234567, "duplicate": 13000, "dirty-pages-rate": 0, "normal": 7500}}}
        """;

    [Fact]
    public void An_active_reply_parses()
    {
        var s = QemuMigrationStats.Parse(JsonNode.Parse(Active)!["return"]);
        Assert.Equal("active", s.Status);
        Assert.Equal(1523, s.TotalTimeMs);
        Assert.Null(s.DowntimeMs);
        Assert.Equal(41, s.ExpectedDowntimeMs);
        Assert.Equal(2, s.SetupTimeMs);
        Assert.Equal(20054321, s.TransferredBytes);
        Assert.Equal(1048576, s.RemainingBytes);
        Assert.Equal(68034560, s.TotalBytes);
        Assert.Equal(4400, s.DirtyPagesRate);
        Assert.Equal(4096, s.PageSize);
        Assert.Equal(160.1832, s.Mbps, 6);
        Assert.Equal(3, s.DirtySyncCount);
        Assert.Equal(4800, s.NormalPages);
        Assert.Equal(12345, s.DuplicatePages);
        Assert.Equal(20, s.CpuThrottlePercent);
        Assert.Equal(4400.0 * 4096, s.DirtyRateBytesPerSecond);
        Assert.Equal(160.1832 * 1_000_000 / 8, s.BandwidthBytesPerSecond, 3);
    }

    [Fact]
    public void A_completed_reply_parses_with_the_downtime_and_no_estimate()
    {
        var s = QemuMigrationStats.Parse(JsonNode.Parse(Completed)!["return"]);
        Assert.Equal("completed", s.Status);
        Assert.Equal(12, s.DowntimeMs);
        Assert.Equal(2100, s.TotalTimeMs);
        Assert.Null(s.ExpectedDowntimeMs);
        Assert.Equal(0, s.RemainingBytes);
        Assert.Equal(31234567, s.TransferredBytes);
        Assert.Equal(0, s.CpuThrottlePercent);
    }

    [Fact]
    public void An_idle_or_empty_reply_parses_to_defaults()
    {
        var idle = QemuMigrationStats.Parse(JsonNode.Parse("""{"status":"none"}"""));
        Assert.Equal("none", idle.Status);
        Assert.Null(idle.TotalTimeMs);
        Assert.Equal(0, idle.TransferredBytes);
        Assert.Equal(4096, idle.PageSize);
        Assert.Equal("none", QemuMigrationStats.Parse(null).Status);
        Assert.Equal("none", QemuMigrationStats.Parse(new JsonObject()).Status);
    }
}

/// <summary>Image confinement is checked before existence, so the answer for a path outside the image directories
/// never tells whether that file exists on the host. CheckImage runs before QEMU would, so no QEMU is needed.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class QemuImageConfinementTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("omig-confine-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_path_outside_the_image_directories_gets_the_same_answer_whether_or_not_it_exists()
    {
        var images = Directory.CreateDirectory(Path.Combine(_root, "images")).FullName;
        var outside = Directory.CreateDirectory(Path.Combine(_root, "outside")).FullName;
        var existing = Path.Combine(outside, "secret.img");
        File.WriteAllText(existing, "x");
        var missing = Path.Combine(outside, "nothing.img");
        var options = new QemuDriverOptions { Binary = "/nonexistent/qemu", RuntimeDirectory = Path.Combine(_root, "run") };
        options.ImageDirectories.Add(images);
        await using var driver = new QemuHypervisorDriver("q-1", options);

        var forExisting = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(Spec("vm-a", existing)));
        var forMissing = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(Spec("vm-b", missing)));

        Assert.Equal(forExisting.Message.Replace(existing, "PATH", StringComparison.Ordinal), forMissing.Message.Replace(missing, "PATH", StringComparison.Ordinal));
        Assert.Contains("outside the configured image directories", forMissing.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", forMissing.Message, StringComparison.Ordinal);

        // Inside the image directories a missing image is still named as missing.
        var inside = await Assert.ThrowsAsync<ArgumentException>(() => driver.CreateVmAsync(Spec("vm-c", Path.Combine(images, "no-such.img"))));
        Assert.Contains("does not exist on host q-1", inside.Message, StringComparison.Ordinal);
    }

    private static VmSpec Spec(string vmId, string image) => new()
    {
        VmId = vmId,
        MemoryMiB = 64,
        VCpuCount = 1,
        Qemu = new QemuGuest { ImagePath = image },
    };
}

/// <summary>The guest RAM size on QEMU's command line: the VM's MiB under KVM; under TCG 8 KiB more, off the 256 KiB
/// multiple whose fast dirty-bitmap sync loses guest stores in QEMU before 9.0.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class QemuMemoryArgumentTests
{
    [Theory]
    [InlineData(512, "kvm", "512")]
    [InlineData(512, "tcg", "524296K")]
    [InlineData(64, "tcg", "65544K")]
    [InlineData(1_048_576, "tcg", "1073741832K")]
    public void Tcg_guests_get_8_KiB_more_than_a_256_KiB_multiple(int miB, string accelerator, string expected)
    {
        var argument = QemuHypervisorDriver.MemoryArgument(miB, accelerator);
        Assert.Equal(expected, argument);
        if (accelerator == "tcg")
            Assert.NotEqual(0, (long.Parse(argument.TrimEnd('K'), System.Globalization.CultureInfo.InvariantCulture) * 1024) % (256 * 1024));
    }
}
