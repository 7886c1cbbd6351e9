using OrleansMigrate.Fleet;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>
/// The store's count of what a fenced holder wrote after its fence can say more than zero: a holder that has many writes
/// in flight when it is fenced has those the daemon already took in land after the fence began, and the count — read
/// from the holder's own block node — shows them, never more than the image holds.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class NbdFenceAuditTests
{
    private const string Disk = "d-1";
    private const byte Pattern = 0x71;

    [Fact]
    public async Task Writes_in_flight_when_a_holder_is_fenced_that_land_afterwards_are_counted()
    {
        // A fence that happens to find no write in flight rightly counts 0, so up to 10 tries, each on a fresh store (1 in 4 counted 0 here).
        var seen = new List<string>();
        for (var attempt = 1; attempt <= 10; attempt++)
        {
            await using var lab = await NbdLab.StartAsync();
            await lab.Store.CreateAsync(Disk, "h-1");
            await lab.Store.OpenReadOnlyAsync(Disk, "h-2");
            await using var writer = await QemuIo.OpenAsync(lab.Uri("d-1@h-1#g1"));

            // The holder keeps writing (1 MiB at a time, round the image) while the store fences it, so writes land from
            // the moment the fence begins until its export is gone; bounded to 400 writes.
            var fenced = new TaskCompletionSource();
            var issued = 0;
            var writing = Task.Run(async () =>
            {
                for (; issued < 400 && !(fenced.Task.IsCompleted && issued > 40); issued++)
                {
                    await writer.RunAsync($"aio_write -P 0x{Pattern:x2} {issued % 16}M 1M");
                }
            });
            while (issued < 20 && !writing.IsCompleted)
            {
                await Task.Delay(1);
            }

            await lab.Store.ReopenReadWriteAsync(Disk, "h-2", 2);
            fenced.SetResult();
            await writing;
            await writer.DisposeAsync();
            var audit = Assert.Single(await lab.Store.FenceAuditsAsync(Disk));
            Assert.Null(audit.NotChecked);
            var counted = audit.BytesWrittenAfter!.Value;
            var landed = SectorsHolding(lab.Store.ImagePath(Disk), Pattern) * DiskFenceAudit.SectorBytes;
            Assert.True(counted % DiskFenceAudit.SectorBytes == 0, $"the count {counted} is not in whole sectors");
            Assert.True(counted <= landed, $"the store counted {counted} bytes written after the fence, but the image holds only {landed} bytes of the holder's writes");
            seen.Add($"try {attempt}: {counted} of {landed} bytes after the fence");
            Console.WriteLine($"fence audit {seen[^1]}");
            if (counted > 0)
            {
                return;
            }
        }

        Assert.Fail($"no try counted a write after the fence: {string.Join("; ", seen)}");
    }

    private static long SectorsHolding(string image, byte pattern)
    {
        var sector = new byte[DiskFenceAudit.SectorBytes];
        long n = 0;
        using var file = new FileStream(image, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        while (file.Read(sector) == sector.Length)
        {
            n += sector.All(b => b == pattern) ? 1 : 0;
        }

        return n;
    }
}
