using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Hypervisor.Tests.Qemu;

/// <summary>Multifd on QEMU: a migration with more than one channel turns on the <c>multifd</c> capability with the same
/// <c>multifd-channels</c> on both QEMUs (the destination before <c>migrate-incoming</c>, the source before <c>migrate</c>),
/// the pages really travel on the multifd channels, and the guest arrives consistent; one channel leaves multifd off.</summary>
[Collection("qemu")]
[Trait(TestCategory.Trait, TestCategory.Qemu)]
public sealed class QemuMultifdTests(QemuEnvironment env) : IDisposable
{
    public void Dispose() => env.EndTest();

    [Fact]
    public async Task Multifd_with_4_channels_is_set_on_both_QEMUs_and_the_guest_arrives_consistent()
    {
        await using var source = new QemuHypervisorDriver("mfd-src", env.Options());
        await using var destination = new QemuHypervisorDriver("mfd-dst", env.Options());
        await source.CreateVmAsync(env.Spec("vm-mfd"));
        await source.StartVmAsync("vm-mfd");
        var before = await QemuTestGuest.WaitForPassesAsync(source, "vm-mfd", 1);
        await destination.CreateVmAsync(env.Spec("vm-mfd"));

        var incoming = await destination.PrepareIncomingAsync("vm-mfd", new IncomingMigrationOptions { VerifyConsistency = true, MigrationChannels = 4 });
        Assert.Equal((true, 4L), await MultifdAsync(destination, "vm-mfd"));
        var outgoing = await source.StartOutgoingAsync("vm-mfd", incoming.Endpoint, QemuTestGuest.Converging with { MigrationChannels = 4 });
        Assert.Equal((true, 4L), await MultifdAsync(source, "vm-mfd"));

        var paused = await outgoing.PreSwitchover.WaitAsync(QemuTestGuest.Bound);
        Assert.Equal(SwitchoverReason.Converged, paused.Reason);
        await outgoing.FinalCopyAsync().WaitAsync(QemuTestGuest.Bound);
        await incoming.Received.WaitAsync(QemuTestGuest.Bound);
        await incoming.ResumeAsync().WaitAsync(QemuTestGuest.Bound);
        await outgoing.CompleteAsync().WaitAsync(QemuTestGuest.Bound);

        var check = await incoming.Consistency.WaitAsync(QemuTestGuest.Bound);
        Assert.True(check!.Consistent, check.Summary);
        Assert.Equal(VmState.PostMigrate, (await source.GetVmAsync("vm-mfd")).State);
        Assert.Equal(VmState.Running, (await destination.GetVmAsync("vm-mfd")).State);

        // Still set on both sides after the migration, and the source's own count: the guest's pages went over the
        // multifd channels, not the main stream.
        Assert.Equal((true, 4L), await MultifdAsync(source, "vm-mfd"));
        Assert.Equal((true, 4L), await MultifdAsync(destination, "vm-mfd"));
        var migrated = JsonNode.Parse(await source.PassthroughAsync("vm-mfd", """{"execute":"query-migrate"}"""))!["return"]!;
        Assert.Equal("completed", migrated["status"]!.GetValue<string>());
        Assert.True(migrated["ram"]!["multifd-bytes"]!.GetValue<long>() > 0, $"QEMU counts no multifd bytes: {migrated.ToJsonString()}");
        var stats = ((QemuOutgoingMigration)outgoing).HypervisorStatistics();
        Assert.Equal(4, stats!.Channels);

        await QemuTestGuest.AssertAdvancesConsistentlyAsync(destination, "vm-mfd", before.Position);
    }

    [Fact]
    public async Task One_channel_leaves_multifd_off_on_the_destination()
    {
        await using var destination = new QemuHypervisorDriver("mfd1-dst", env.Options());
        await destination.CreateVmAsync(env.Spec("vm-mfd1"));

        var incoming = await destination.PrepareIncomingAsync("vm-mfd1", new IncomingMigrationOptions());

        Assert.False((await MultifdAsync(destination, "vm-mfd1")).On);
        await incoming.AbortAsync("test done");
    }

    /// <summary>The <c>multifd</c> capability and the <c>multifd-channels</c> parameter as this VM's QEMU reports them.</summary>
    private static async Task<(bool On, long Channels)> MultifdAsync(QemuHypervisorDriver driver, string vmId)
    {
        var capabilities = JsonNode.Parse(await driver.PassthroughAsync(vmId, """{"execute":"query-migrate-capabilities"}"""))!["return"]!.AsArray();
        var on = capabilities.Single(c => c!["capability"]!.GetValue<string>() == "multifd")!["state"]!.GetValue<bool>();
        var parameters = JsonNode.Parse(await driver.PassthroughAsync(vmId, """{"execute":"query-migrate-parameters"}"""))!["return"]!;
        return (on, parameters["multifd-channels"]!.GetValue<long>());
    }
}
