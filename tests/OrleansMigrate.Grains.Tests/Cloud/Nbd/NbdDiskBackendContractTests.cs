using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Cloud;

namespace OrleansMigrate.Tests.Cloud.Nbd;

/// <summary>The contract on the real NBD block store (a qemu-storage-daemon per test). After every step the daemon's
/// own export list (<c>query-block-exports</c>) must hold exactly the exports of the handles that may do I/O: the
/// writer's, and the prepared (read-only) ones not fenced since; a paused (fenced) writer's export must be gone.</summary>
[Trait(TestCategory.Trait, TestCategory.Lab)]
public sealed class NbdDiskBackendContractTests : DiskBackendContract
{
    private NbdLab _lab = null!;

    protected override int WalkSteps => 400;

    public override async Task InitializeAsync()
    {
        _lab = await NbdLab.StartAsync();
        Store = _lab.Store;
    }

    public override async Task DisposeAsync() => await _lab.DisposeAsync();

    protected override BlockStoreVolume? Inspect(string diskId) => _lab.Store.Inspect(diskId);

    protected override async Task CheckStoreAsync(string diskId, BlockStoreVolume volume)
    {
        var live = await _lab.Store.LiveExportsAsync(diskId);
        Assert.DoesNotContain(live, e => e.StartsWith("unknown:", StringComparison.Ordinal));
        foreach (var (host, handle) in volume.Handles)
        {
            var export = _lab.Store.AttachmentFor(diskId, host).ExportName;
            if (handle.Mode == DiskAttachmentMode.ReadWrite)
            {
                Assert.Contains(export, live);
            }
            else if (handle.Mode == DiskAttachmentMode.Paused)
            {
                Assert.DoesNotContain(export, live);
            }
        }

        Assert.True(live.Count <= volume.Handles.Count);
    }
}
