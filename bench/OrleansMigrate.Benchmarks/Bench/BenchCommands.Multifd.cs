using System.CommandLine;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using OrleansMigrate.Hypervisor.Drivers;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench multifd</c>: QEMU's single migration stream against multifd with N channels.</summary>
public static partial class BenchCommands
{
    private static Command Multifd()
    {
        var runs = new Option<int>("--runs") { Description = "Migrations per channel count (1-100)", DefaultValueFactory = _ => 5 };
        var channels = new Option<int>("--migration-channels") { Description = $"Multifd channels compared with the single stream (2-{MigrationOptions.MaxMigrationChannels})", DefaultValueFactory = _ => 4 };
        var image = new Option<string?>("--image") { Description = "Guest image (default: build guest/dirty-guest.S with guest/build.sh, --guest-pages and --guest-delay)" };
        var pages = new Option<int>("--guest-pages") { Description = "4 KiB pages the built guest dirties (1-65536)", DefaultValueFactory = _ => 16384 };
        var delay = new Option<int>("--guest-delay") { Description = "Busy-loop iterations between two page writes of the built guest (1-100000000; lower dirties faster)", DefaultValueFactory = _ => 2000 };
        var memory = new Option<int>("--memory") { Description = "Guest memory, MiB (64-4096)", DefaultValueFactory = _ => 1024 };
        var warm = new Option<int>("--warm-ms") { Description = "How long each fresh guest dirties memory before it migrates, ms (100-60000)", DefaultValueFactory = _ => 1500 };
        var accel = new Option<string>("--accel") { Description = "auto (KVM when /dev/kvm opens and runs the probe guest at speed, else TCG), kvm or tcg", DefaultValueFactory = _ => "auto" };
        var cmd = new Command("multifd", "Real QEMU: the classic single migration stream vs multifd with N channels on the same guest, alternating (--json PATH, default multifd.json)")
        {
            runs, channels, image, pages, delay, memory, warm, accel,
        };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var (n, ch, mib, warmMs) = (parse.GetValue(runs), parse.GetValue(channels), parse.GetValue(memory), parse.GetValue(warm));
            if (n is < 1 or > 100)
            {
                throw OmigException.Invalid("--runs", $"must be between 1 and 100, got {n}");
            }

            if (ch is < 2 or > MigrationOptions.MaxMigrationChannels)
            {
                throw OmigException.Invalid("--migration-channels", $"must be between 2 and {MigrationOptions.MaxMigrationChannels}, got {ch}");
            }

            var (guestPages, guestDelay) = (parse.GetValue(pages), parse.GetValue(delay));
            var accelerator = parse.GetValue(accel)!;
            CheckGuest(mib, warmMs, guestPages, guestDelay, accelerator);
            var (guest, description) = await GuestAsync(parse.GetValue(image), guestPages, guestDelay, ct);
            var result = await new MultifdBenchmark(n, ch, guest, description, mib, warmMs, accelerator, line => Console.Error.WriteLine(line)).RunAsync(ct);
            var json = Output.Json.Serialize(result);
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return result.Consistent ? ExitCodes.Ok : ExitCodes.Unexpected;
            }

            var path = GlobalOptions.JsonPath(parse) ?? "multifd.json";
            await File.WriteAllTextAsync(path, json, ct);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("CHANNELS", "TOTAL p50", "DOWNTIME p50", "THROUGHPUT p50", "ON MULTIFD p50", "GUESTS CONSISTENT");
            foreach (var m in new[] { result.SingleStream, result.Multifd })
            {
                table.AddRow(m.Channels == 1 ? "1 (single stream)" : $"{m.Channels} (multifd)", $"{m.TotalMsP50:0} ms", $"{m.DowntimeMsP50:0.0} ms",
                    $"{m.ThroughputMBpsP50:0.0} MB/s", $"{m.MultifdMiBP50:0.0} MiB", $"{m.GuestsConsistent}/{result.Runs}");
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"accelerator {Markup.Escape(result.Accelerator)} ({Markup.Escape(result.AcceleratorReason)}); {result.GuestMiB} MiB guest; " +
                $"total time ratio p50 {result.TotalTimeRatioP50:0.000}, throughput ratio p50 {result.ThroughputRatioP50:0.000} ({result.Multifd.Channels} channels over 1); report written to [bold]{Markup.Escape(path)}[/]");
            return result.Consistent ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }
}
