using System.CommandLine;
using System.Globalization;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using OrleansMigrate.Migration;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench lab</c>: the Linux guest migrated by a real cluster on the real Linux lab, in each orchestration mode.</summary>
public static partial class BenchCommands
{
    private static Command Lab()
    {
        var runs = new Option<int>("--runs") { Description = "Migrations per mode (1-50)", DefaultValueFactory = _ => 3 };
        var modes = new Option<string>("--modes") { Description = "Modes, comma-separated, migrated in turn in every run", DefaultValueFactory = _ => "parallel,serial,no-relay,no-session-copy" };
        var connectionString = new Option<string?>("--connection-string") { Description = "PostgreSQL (Npgsql) with our schema, reached over its unix socket (Host=/socket/dir): the host silos run inside the lab's namespaces; default $OMIG_PG_LAB_CONNSTR" };
        var siloDll = new Option<string?>("--silo-dll") { Description = "Path of omig-silo.dll (default: next to omig.dll, else the repository's Release build)" };
        var guestDir = new Option<string?>("--guest-dir") { Description = "The Linux guest's vmlinuz and initrd.img (guest/linux/build.sh DIR); default $OMIG_LINUX_GUEST_DIR, else /tmp/omig-linux-guest" };
        var window = new Option<int>("--window-seconds") { Description = "Seconds of traffic around each migration, which starts 3 s in (10-120)", DefaultValueFactory = _ => 20 };
        var accel = new Option<string>("--accel") { Description = "auto (KVM when it runs the probe guest at speed, else TCG), kvm or tcg", DefaultValueFactory = _ => "auto" };
        var prefix = new Option<string>("--prefix") { Description = "Prefix of the bench's own lab (2-8 lower-case letters and digits)", DefaultValueFactory = _ => "omb" };
        var dir = new Option<string>("--dir") { Description = "Directory of the bench's lab state, disk images and QEMU runtime", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "omig-bench-lab") };
        var cmd = new Command("lab", "Real Linux: the Linux guest under UDP echoes and TCP streams, migrated by a cluster whose host silos run in the lab's namespaces, in each mode (--json PATH, default lab.json)")
        {
            runs, modes, connectionString, siloDll, guestDir, window, accel, prefix, dir,
        };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var n = parse.GetValue(runs);
            if (n is < 1 or > 50)
            {
                throw OmigException.Invalid("--runs", $"must be between 1 and 50, got {n}");
            }

            var w = parse.GetValue(window);
            if (w is < 10 or > 120)
            {
                throw OmigException.Invalid("--window-seconds", $"must be between 10 and 120, got {w}");
            }

            var accelerator = parse.GetValue(accel)!;
            if (accelerator is not ("auto" or "kvm" or "tcg"))
            {
                throw OmigException.Invalid("--accel", $"must be auto, kvm or tcg, got '{accelerator}'");
            }

            var p = parse.GetValue(prefix)!;
            if (!OrleansMigrate.Lab.LabConventions.IsValidPrefix(p))
            {
                throw OmigException.Invalid("--prefix", $"'{p}' must be 2-8 characters, a lower-case letter then lower-case letters and digits");
            }

            var list = ParseModes(parse.GetValue(modes)!);
            var cs = parse.GetValue(connectionString) is { Length: > 0 } given ? given : Environment.GetEnvironmentVariable("OMIG_PG_LAB_CONNSTR");
            if (string.IsNullOrWhiteSpace(cs))
            {
                throw OmigException.Invalid("--connection-string", "the lab bench needs a PostgreSQL with our schema over its unix socket: give --connection-string 'Host=/socket/dir;…' or set OMIG_PG_LAB_CONNSTR");
            }

            var guest = parse.GetValue(guestDir) is { Length: > 0 } g ? g
                : Environment.GetEnvironmentVariable("OMIG_LINUX_GUEST_DIR") is { Length: > 0 } e ? e : "/tmp/omig-linux-guest";
            var result = await new LabBenchmark(new LabBenchOptions
            {
                Runs = n, Modes = list, ConnectionString = cs, SiloDll = SiloDll.Find(parse.GetValue(siloDll)), GuestDirectory = Path.GetFullPath(guest),
                WindowSeconds = w, Accelerator = accelerator, Prefix = p, Directory = Path.GetFullPath(parse.GetValue(dir)!),
            }, line => Console.Error.WriteLine(line)).RunAsync(ct);
            var json = Output.Json.Serialize(result);
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return ExitCodes.Ok;
            }

            var path = GlobalOptions.JsonPath(parse) ?? "lab.json";
            await File.WriteAllTextAsync(path, json, ct);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("MODE", "DONE", "GUEST GAP p50/p99", "QEMU DOWNTIME p50", "UDP LOST", "TCP SURVIVED", "DISK LOST/DUP", "WRITES AFTER FENCE", "STEPS p50 (ms)");
            foreach (var m in result.Modes)
            {
                table.AddRow(m.Mode, $"{m.Completed}/{m.Runs}", $"{Ms(m.DowntimeGuestMsP50)} / {Ms(m.DowntimeGuestMsP99)}", Ms(m.QemuDowntimeMsP50), $"{m.UdpLost}/{m.UdpSent}",
                    $"{m.TcpSurvived}/{m.TcpStreams}", $"{m.DiskRecordsLost}/{m.DiskRecordsDuplicated}",
                    $"{(m.DiskWritesAfterFence is { } after ? after.ToString(CultureInfo.InvariantCulture) : "not checked")} ({m.DiskFencesChecked} fences{(m.DiskFencesNotChecked > 0 ? $", {m.DiskFencesNotChecked} not checked" : "")})",
                    Markup.Escape(string.Join(", ", m.StepsMs.OrderByDescending(s => s.Value).Take(4).Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key} {s.Value:0.0}")))));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"accelerator {Markup.Escape(result.Accelerator)}; {result.GuestMiB} MiB Linux guest; report written to [bold]{Markup.Escape(path)}[/]");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The modes of <c>--modes</c> (comma-separated; <c>no-relay</c>, <c>no_relay</c> and <c>NoRelay</c> alike), in
    /// order, each once; refused naming <c>--modes</c>.</summary>
    public static IReadOnlyList<OrchestrationMode> ParseModes(string text)
    {
        var list = new List<OrchestrationMode>();
        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Enum.TryParse<OrchestrationMode>(name.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out var mode)
                || !Enum.IsDefined(mode) || name.Any(char.IsDigit))
            {
                throw OmigException.Invalid("--modes", $"'{name}' is not one of {string.Join(", ", Enum.GetValues<OrchestrationMode>().Select(LabBenchmark.ModeName))}");
            }

            if (!list.Contains(mode))
            {
                list.Add(mode);
            }
        }

        return list.Count > 0 ? list : throw OmigException.Invalid("--modes", "names no mode");
    }

    private static string Ms(double? ms) => ms is { } v ? string.Create(CultureInfo.InvariantCulture, $"{v:0.0} ms") : "-";
}
