using System.CommandLine;
using OrleansMigrate.Cli.Commands;
using OrleansMigrate.Errors;
using Spectre.Console;

namespace OrleansMigrate.Cli.Bench;

/// <summary><c>omig bench postcopy</c>: a guest that never converges, switched over forced vs switched to post-copy.</summary>
public static partial class BenchCommands
{
    private static Command PostCopy()
    {
        var runs = new Option<int>("--runs") { Description = "Migrations per way (1-100)", DefaultValueFactory = _ => 3 };
        var image = new Option<string?>("--image") { Description = "Guest image (default: build guest/dirty-guest.S with guest/build.sh, --guest-pages and --guest-delay)" };
        var pages = new Option<int>("--guest-pages") { Description = "4 KiB pages the built guest dirties (1-65536)", DefaultValueFactory = _ => 65536 };
        var delay = new Option<int>("--guest-delay") { Description = "Busy-loop iterations between two page writes of the built guest (1-100000000; lower dirties faster)", DefaultValueFactory = _ => 100 };
        var memory = new Option<int>("--memory") { Description = "Guest memory, MiB (64-4096)", DefaultValueFactory = _ => 512 };
        var warm = new Option<int>("--warm-ms") { Description = "How long each fresh guest dirties memory before it migrates, ms (100-60000)", DefaultValueFactory = _ => 1500 };
        var switchAfter = new Option<int>("--switch-after-ms") { Description = "Pre-copy time before the switch is forced, ms (500-600000)", DefaultValueFactory = _ => 4000 };
        var link = new Option<long>("--link") { Description = "Link cap, bytes/s (1000000-100000000000)", DefaultValueFactory = _ => 125_000_000 };
        var accel = new Option<string>("--accel") { Description = "auto (KVM when /dev/kvm opens and runs the probe guest at speed, else TCG), kvm or tcg", DefaultValueFactory = _ => "auto" };
        var cmd = new Command("postcopy", "Real QEMU: a guest that dirties faster than the link, its pre-copy ended by a forced switchover vs a switch to post-copy, alternating (--json PATH, default postcopy.json)")
        {
            runs, image, pages, delay, memory, warm, switchAfter, link, accel,
        };
        cmd.SetLocalAction(async (parse, ct) =>
        {
            var (n, mib, warmMs, after, bytes) = (parse.GetValue(runs), parse.GetValue(memory), parse.GetValue(warm), parse.GetValue(switchAfter), parse.GetValue(link));
            if (n is < 1 or > 100)
            {
                throw OmigException.Invalid("--runs", $"must be between 1 and 100, got {n}");
            }

            if (after is < 500 or > 600_000)
            {
                throw OmigException.Invalid("--switch-after-ms", $"must be between 500 and 600000, got {after}");
            }

            if (bytes is < 1_000_000 or > 100_000_000_000)
            {
                throw OmigException.Invalid("--link", $"must be between 1000000 and 100000000000 bytes/s, got {bytes}");
            }

            var (guestPages, guestDelay) = (parse.GetValue(pages), parse.GetValue(delay));
            var accelerator = parse.GetValue(accel)!;
            CheckGuest(mib, warmMs, guestPages, guestDelay, accelerator);
            var (guest, description) = await GuestAsync(parse.GetValue(image), guestPages, guestDelay, ct);
            var result = await new PostCopyBenchmark(n, guest, description, mib, warmMs, after, bytes, accelerator, line => Console.Error.WriteLine(line)).RunAsync(ct);
            var json = Output.Json.Serialize(result);
            if (GlobalOptions.JsonToConsole(parse))
            {
                Console.Out.WriteLine(json);
                return result.Consistent ? ExitCodes.Ok : ExitCodes.Unexpected;
            }

            var path = GlobalOptions.JsonPath(parse) ?? "postcopy.json";
            await File.WriteAllTextAsync(path, json, ct);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("WAY", "DOWNTIME p50", "DOWNTIME p99", "QEMU DOWNTIME p50", "TOTAL p50", "POST-COPY p50", "SENT p50", "GUESTS CONSISTENT");
            foreach (var m in new[] { result.ForcedSwitchover, result.PostCopy })
            {
                table.AddRow(m.Mode, $"{m.DowntimeMsP50:0.0} ms", $"{m.DowntimeMsP99:0.0} ms", $"{m.QemuDowntimeMsP50:0.0} ms", $"{m.TotalMsP50:0} ms", $"{m.PostCopyMsP50:0} ms",
                    $"{m.TransferredMiBP50:0.0} MiB", $"{m.GuestsConsistent}/{result.Runs}");
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"accelerator {Markup.Escape(result.Accelerator)} ({Markup.Escape(result.AcceleratorReason)}); {result.GuestMiB} MiB guest; " +
                $"downtime ratio p50 {result.DowntimeRatioP50:0.0000}, total time ratio p50 {result.TotalTimeRatioP50:0.000} (post-copy over forced); report written to [bold]{Markup.Escape(path)}[/]");
            return result.Consistent ? ExitCodes.Ok : ExitCodes.Unexpected;
        });
        return cmd;
    }
}
