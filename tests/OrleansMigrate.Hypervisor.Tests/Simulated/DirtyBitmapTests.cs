using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Tests.Simulated;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DirtyBitmapTests
{
    [Fact]
    public void HarvestReturnsEachDirtyPageOnceInOrderAndClearsIt()
    {
        var bitmap = new DirtyBitmap(5000);
        foreach (var page in new[] { 4999, 3, 64, 63, 3 })
            bitmap.Mark(page);
        var pages = new int[5000];

        Assert.Equal(4, bitmap.CountDirty());
        var n = bitmap.Harvest(pages);
        Assert.Equal([3, 63, 64, 4999], pages[..n]);
        Assert.Equal(0, bitmap.Harvest(pages));
        Assert.Equal(0, bitmap.CountDirty());
    }

    [Fact]
    public async Task WritesDuringAHarvestAreKeptForTheNextOne()
    {
        var bitmap = new DirtyBitmap(1 << 16);
        var pages = new int[1 << 16];
        var harvested = new HashSet<int>();
        var writer = Task.Run(() =>
        {
            for (var page = 0; page < 1 << 16; page++)
                bitmap.Mark(page);
        });
        while (!writer.IsCompleted)
        {
            var n = bitmap.Harvest(pages);
            harvested.UnionWith(pages[..n]);
        }

        await writer;
        var last = bitmap.Harvest(pages);
        harvested.UnionWith(pages[..last]);
        Assert.Equal(1 << 16, harvested.Count);
    }
}
