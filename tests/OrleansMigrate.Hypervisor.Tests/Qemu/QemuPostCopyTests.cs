using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>Post-copy on QEMU: a forced switchover of a pre-copy that would never converge becomes a switch to post-copy
/// when the options allow it; the destination runs at once and the guest stays consistent; a destination that dies
/// during post-copy loses the VM, and the source says so.</summary>
[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class QemuPostCopyTests(QemuEnvironment env) : IDisposable
{
    /// <summary>A link slow enough (5 MB/s) that the guest's 16 MiB of written pages take seconds to follow after the switch.</summary>
    private static MigrationOptions PostCopy => QemuTestGuest.NonConverging with { LinkBandwidthBytesPerSecond = 5_000_000, PostCopy = true };

    public void Dispose() => env.EndTest();

    [Fact]
    public async Task A_forced_switchover_with_post_copy_allowed_runs_the_destination_before_the_last_page_and_the_guest_stays_consistent()
    {
        await using var source = new QemuHypervisorDriver("pc-src", env.Options());
        await using var destination = new QemuHypervisorDriver("pc-dst", env.Options());
        await source.CreateVmAsync(env.Spec("vm-pc"));
        await source.StartVmAsync("vm-pc");
        await QemuTestGuest.WaitForPassesAsync(source, "vm-pc", 1);
        await destination.CreateVmAsync(env.Spec("vm-pc"));
        var incoming = await destination.PrepareIncomingAsync("vm-pc", new IncomingMigrationOptions { PostCopy = true, VerifyConsistency = true });
        var outgoing = (QemuOutgoingMigration)await source.StartOutgoingAsync("vm-pc", incoming.Endpoint, PostCopy);
        await QemuTestGuest.WaitForPreCopyAsync(outgoing);
        Assert.True(await CapabilityAsync(source, "vm-pc", "postcopy-ram"));
        Assert.True(await CapabilityAsync(destination, "vm-pc", "postcopy-ram"));

        outgoing.RequestSwitchover();
        var paused = await outgoing.PreSwitchover.WaitAsync(QemuTestGuest.Bound);
        Assert.Equal(SwitchoverReason.Requested, paused.Reason);
        await outgoing.FinalCopyAsync().WaitAsync(QemuTestGuest.Bound);
        Assert.True(outgoing.PostCopyStarted, "the source reports postcopy-active");
        await incoming.Received.WaitAsync(TimeSpan.FromSeconds(30));
        await incoming.ResumeAsync().WaitAsync(TimeSpan.FromSeconds(30));

        // The destination runs while the source still has pages to send: that is post-copy.
        var status = JsonNode.Parse(await source.PassthroughAsync("vm-pc", """{"execute":"query-migrate"}"""))!["return"]!["status"]!.GetValue<string>();
        Assert.Equal("postcopy-active", status);
        await outgoing.CompleteAsync().WaitAsync(QemuTestGuest.Bound);
        Assert.True(outgoing.PostCopyMs > 0, $"post-copy lasted {outgoing.PostCopyMs} ms");
        var stats = await outgoing.FinalStats;
        Assert.Equal("completed", stats!.Status);
        var check = await incoming.Consistency.WaitAsync(QemuTestGuest.Bound);
        Assert.True(check!.Consistent, check.Summary);
        await QemuTestGuest.AssertAdvancesConsistentlyAsync(destination, "vm-pc");
    }

    [Fact]
    public async Task A_destination_that_dies_during_post_copy_loses_the_VM_and_the_source_says_why()
    {
        await using var source = new QemuHypervisorDriver("pcl-src", env.Options());
        await using var destination = new QemuHypervisorDriver("pcl-dst", env.Options());
        await source.CreateVmAsync(env.Spec("vm-pcl"));
        await source.StartVmAsync("vm-pcl");
        await QemuTestGuest.WaitForPassesAsync(source, "vm-pcl", 1);
        await destination.CreateVmAsync(env.Spec("vm-pcl"));
        var incoming = await destination.PrepareIncomingAsync("vm-pcl", new IncomingMigrationOptions { PostCopy = true });
        var outgoing = (QemuOutgoingMigration)await source.StartOutgoingAsync("vm-pcl", incoming.Endpoint, PostCopy);
        await QemuTestGuest.WaitForPreCopyAsync(outgoing);
        outgoing.RequestSwitchover();
        await outgoing.PreSwitchover.WaitAsync(QemuTestGuest.Bound);
        await outgoing.FinalCopyAsync().WaitAsync(QemuTestGuest.Bound);
        await incoming.Received.WaitAsync(TimeSpan.FromSeconds(30));
        await incoming.ResumeAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(destination.KillQemu("vm-pcl"));

        var lost = await Assert.ThrowsAsync<MigrationFailedException>(() => outgoing.CompleteAsync().WaitAsync(QemuTestGuest.Bound));
        Assert.Equal(MigrationFailureKind.PostCopyLost, lost.Kind);
        Assert.Contains("post-copy failed after", lost.Message);
        Assert.Contains("the VM is lost", lost.Message);
        var vm = (await source.ListVmsAsync()).Single(v => v.Spec.VmId == "vm-pcl");
        Assert.Equal(VmState.Lost, vm.State);
        Assert.Contains("post-copy failed", vm.Detail);
    }

    [Fact]
    public void Post_copy_is_refused_with_multifd_naming_the_field()
    {
        var error = Assert.Throws<ArgumentException>(() => (PostCopy with { MigrationChannels = 4 }).Validate());
        Assert.Equal("PostCopy", error.ParamName);
        Assert.Contains("multifd", error.Message);
    }

    private static async Task<bool> CapabilityAsync(QemuHypervisorDriver driver, string vmId, string name)
    {
        var capabilities = JsonNode.Parse(await driver.PassthroughAsync(vmId, """{"execute":"query-migrate-capabilities"}"""))!["return"]!.AsArray();
        return capabilities.Single(c => c!["capability"]!.GetValue<string>() == name)!["state"]!.GetValue<bool>();
    }
}
