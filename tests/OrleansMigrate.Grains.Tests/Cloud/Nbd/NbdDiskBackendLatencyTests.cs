using System.Diagnostics;
using Xunit.Abstractions;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>What each block-store action costs on the real daemon of this machine: medians of 20 repetitions, printed
/// (no speed is asserted). The take-over fences a holder that is connected (a qemu-io client on its export).</summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class NbdDiskBackendLatencyTests(ITestOutputHelper output)
{
    private const int Repetitions = 20;

    [Fact]
    public async Task Medians_of_create_open_take_over_close_rollback_and_delete()
    {
        await using var lab = await NbdLab.StartAsync();
        var samples = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        void Add(string name, Stopwatch watch) => (samples.TryGetValue(name, out var list) ? list : samples[name] = []).Add(watch.Elapsed.TotalMilliseconds);

        for (var i = 0; i < Repetitions; i++)
        {
            var disk = $"d-{i}";
            var w = Stopwatch.StartNew();
            await lab.Store.CreateAsync(disk, "h-1");
            Add("create", w);

            w.Restart();
            await lab.Store.OpenReadOnlyAsync(disk, "h-2");
            Add("open (prepare destination)", w);

            await using (var holder = await QemuIo.OpenAsync(lab.Uri(lab.Store.AttachmentFor(disk, "h-1").ExportName)))
            {
                w.Restart();
                await lab.Store.ReopenReadWriteAsync(disk, "h-2", 2);
                Add("fence + promote (take-over, in downtime)", w);
                Assert.DoesNotContain("wrote", await holder.RunAsync("write 0 4k"));
            }

            w.Restart();
            await lab.Store.ResumeWriterAsync(disk, "h-1", 3);
            Add("rollback hand-back (fence destination, re-add source)", w);

            w.Restart();
            await lab.Store.CloseAsync(disk, "h-2");
            Add("close (export fenced already)", w);

            await lab.Store.OpenReadOnlyAsync(disk, "h-3");
            w.Restart();
            await lab.Store.CloseAsync(disk, "h-3");
            Add("close (live export, graceful)", w);

            w.Restart();
            await lab.Store.DeleteAsync(disk);
            Add("delete", w);
        }

        foreach (var (name, list) in samples)
        {
            list.Sort();
            var line = $"nbd disk backend, {name}: median {list[list.Count / 2]:0.00} ms (min {list[0]:0.00}, max {list[^1]:0.00}, n={list.Count})";
            output.WriteLine(line);
            Console.Error.WriteLine(line);
        }

        Assert.All(samples.Values, l => Assert.Equal(Repetitions, l.Count));
    }
}
