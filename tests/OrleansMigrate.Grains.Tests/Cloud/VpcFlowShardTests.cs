using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Fleet;

namespace OrleansMigrate.Tests.Cloud;

/// <summary>
/// A VPC's flows are stored in <see cref="IVpcFlowShardGrain"/> pages and its relays in the table's own row, so a
/// change writes what it changed, not the whole VPC; the table's answers do not change.
/// </summary>
[Collection(VpcStorageCollection.Name)]
[Trait(TestCategory.Trait, TestCategory.Cluster)]
public sealed class VpcFlowShardTests(VpcStorageClusterFixture fixture)
{
    private const string Src = "h-src";
    private const string Dst = "h-dst";
    private const string Owner = "mig-1";
    private const string TableState = "vpc";
    private const string ShardState = "vpc-flows";

    private RecordingGrainStorage Storage => fixture.Storage;

    [Fact]
    public async Task On_a_table_of_many_flows_a_relay_change_writes_no_flow_and_a_flow_change_writes_only_its_shard()
    {
        var (vpc, vpcId, flows) = await NewVpcAsync(640);
        var largestShard = flows.GroupBy(f => VpcFlowShards.ShardOf(f.Ip)).Max(g => g.Count());
        Assert.True(largestShard * 8 < flows.Length, $"640 flows should spread over the shards; the largest holds {largestShard}");
        var wholeTable = Serializer.SerializeToArray(new VpcFlowTableGrainState { Flows = flows.ToImmutableDictionary(f => f.Ip) }).Length;
        var (ip, vm) = (flows[0].Ip, flows[0].VmId);

        Storage.ClearWrites();
        await vpc.StageRelayAsync(ip, Src, Dst, Owner);
        AssertTableWrite(vpc, relays: 1);
        await vpc.SetRelayEnabledAsync(ip, Owner, true);
        AssertTableWrite(vpc, relays: 1);

        await vpc.RepointFlowAsync(ip, vm, Dst);
        AssertShardWrite(vpcId, ip, flows.Count(f => SameShard(f.Ip, ip)), wholeTable);

        await vpc.RemoveRelayAsync(ip, Owner);
        AssertTableWrite(vpc, relays: 0);

        const string added = "10.99.0.1";
        await vpc.AddFlowAsync(new FlowEntry(added, TestFleet.RandomMac(), "vm-added", Src));
        AssertShardWrite(vpcId, added, flows.Count(f => SameShard(f.Ip, added)) + 1, wholeTable);
        await vpc.RemoveFlowAsync(added, "vm-added");
        AssertShardWrite(vpcId, added, flows.Count(f => SameShard(f.Ip, added)), wholeTable);

        // Replays change nothing and write nothing.
        await vpc.RepointFlowAsync(ip, vm, Dst);
        await vpc.AddFlowAsync(flows[1]);
        await vpc.RemoveFlowAsync(added, "vm-added");
        Assert.Empty(Storage.Writes);

        var table = await vpc.GetAsync();
        Assert.Equal(flows.Length, table.Flows.Count);
        Assert.Equal(Dst, table.Flows[ip].HostId);
        Assert.All(flows.Skip(1), f => Assert.Equal(f, table.Flows[f.Ip]));
        Assert.Empty(table.Relays);
        await fixture.Cluster.DeactivateAsync(vpc);
        AssertSameTable(table, await vpc.GetAsync());
    }

    [Fact]
    public async Task A_table_stored_by_the_old_version_is_moved_into_the_shards_on_activation_and_an_interrupted_move_completes_later()
    {
        var vpcId = TestFleet.Unique("vpc");
        var vpc = fixture.Grains.GetGrain<IVpcFlowTableGrain>(vpcId);
        var flows = Flows(100);
        var relay = new RelayRoute(flows[0].Ip, Src, Dst, Enabled: true, Owner);
        var legacy = new VpcFlowTableGrainState { Flows = flows.ToImmutableDictionary(f => f.Ip), Relays = [relay] };
        await Storage.WriteStateAsync(TableState, vpc.GetGrainId(), new GrainState<VpcFlowTableGrainState>(legacy));

        // One flow is already in its shard, as after an earlier move that stopped halfway.
        await Shard(vpcId, flows[1].Ip).SetManyAsync([flows[1]]);

        // The move stops again: its shards are written, the table row is not cleared, so the activation fails.
        Storage.ClearWrites();
        Storage.FailWrites((name, id) => name == TableState && id == vpc.GetGrainId());
        try
        {
            var failed = await Assert.ThrowsAnyAsync<Exception>(vpc.GetAsync);
            Assert.Contains("injected storage failure", failed.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Storage.StopFailing();
        }

        Assert.NotEmpty(Storage.Writes);
        Assert.All(Storage.Writes, w => Assert.Equal(ShardState, w.StateName));
        Assert.Equal(flows.Length, (await ReadTableRowAsync(vpc)).Flows.Count);
        foreach (var group in flows.GroupBy(f => VpcFlowShards.ShardOf(f.Ip)))
        {
            var stored = await Shard(vpcId, group.First().Ip).GetAsync();
            Assert.Equal(group.OrderBy(f => f.Ip, StringComparer.Ordinal), stored.Values.OrderBy(f => f.Ip, StringComparer.Ordinal));
        }

        // The next activation completes it: the shards already hold every flow, the row is cleared.
        Storage.ClearWrites();
        var table = await vpc.GetAsync();
        Assert.Equal(TableState, Assert.Single(Storage.Writes).StateName);
        Assert.Equal(flows.OrderBy(f => f.Ip, StringComparer.Ordinal), table.Flows.Values.OrderBy(f => f.Ip, StringComparer.Ordinal));
        Assert.Equal(relay, Assert.Single(table.Relays));
        var row = await ReadTableRowAsync(vpc);
        Assert.Empty(row.Flows);
        Assert.Equal(relay, Assert.Single(row.Relays));

        Assert.Equal(Dst, await vpc.ResolveAsync(relay.Ip));
        await fixture.Cluster.DeactivateAsync(vpc);
        AssertSameTable(table, await vpc.GetAsync());
        await vpc.RemoveRelayAsync(relay.Ip, Owner);
        Assert.Equal(Src, await vpc.ResolveAsync(relay.Ip));
    }

    [Fact]
    public async Task A_flow_change_whose_shard_write_fails_leaves_the_table_as_stored_and_its_retry_lands()
    {
        var (vpc, _, flows) = await NewVpcAsync(64);
        var before = await vpc.GetAsync();
        var added = new FlowEntry("10.99.0.2", TestFleet.RandomMac(), "vm-added", Src);
        var (moved, removed) = (flows[0], flows[1]);

        Storage.FailWrites((name, _) => name == ShardState);
        try
        {
            var failures = new[]
            {
                await Assert.ThrowsAnyAsync<Exception>(() => vpc.AddFlowAsync(added)),
                await Assert.ThrowsAnyAsync<Exception>(() => vpc.RepointFlowAsync(moved.Ip, moved.VmId, Dst)),
                await Assert.ThrowsAnyAsync<Exception>(() => vpc.RemoveFlowAsync(removed.Ip, removed.VmId)),
            };
            Assert.All(failures, f => Assert.Contains("injected storage failure", f.ToString(), StringComparison.Ordinal));
        }
        finally
        {
            Storage.StopFailing();
        }

        AssertSameTable(before, await vpc.GetAsync());
        Assert.Equal(Src, await vpc.ResolveAsync(moved.Ip));
        await fixture.Cluster.DeactivateAsync(vpc);
        AssertSameTable(before, await vpc.GetAsync());

        await vpc.AddFlowAsync(added);
        await vpc.RepointFlowAsync(moved.Ip, moved.VmId, Dst);
        await vpc.RemoveFlowAsync(removed.Ip, removed.VmId);

        var after = await vpc.GetAsync();
        Assert.Equal(added, after.Flows[added.Ip]);
        Assert.Equal(Dst, after.Flows[moved.Ip].HostId);
        Assert.False(after.Flows.ContainsKey(removed.Ip));
        Assert.Equal(flows.Length, after.Flows.Count);
        await fixture.Cluster.DeactivateAsync(vpc);
        AssertSameTable(after, await vpc.GetAsync());
    }

    [Fact]
    public async Task A_shard_that_cannot_be_read_back_after_a_failed_write_is_not_answered_from_and_is_read_again_before_its_next_use()
    {
        var (vpc, vpcId, flows) = await NewVpcAsync(64);
        var before = await vpc.GetAsync();
        var (moved, other) = (flows[0], flows.First(f => !SameShard(f.Ip, flows[0].Ip)));
        var shard = Shard(vpcId, moved.Ip);

        // The shard is away: its write fails, and so does the table's attempt to read it back.
        await fixture.Cluster.DeactivateAsync(shard);
        Storage.FailWrites((name, id) => name == ShardState && id == shard.GetGrainId());
        Storage.FailReads((name, id) => name == ShardState && id == shard.GetGrainId());
        try
        {
            await Assert.ThrowsAnyAsync<Exception>(() => vpc.RemoveFlowAsync(moved.Ip, moved.VmId));

            // The table does not answer from a shard it could not read back; the others still answer.
            await Assert.ThrowsAnyAsync<Exception>(vpc.GetAsync);
            await Assert.ThrowsAnyAsync<Exception>(() => vpc.RepointFlowAsync(moved.Ip, moved.VmId, Dst));
            Assert.Equal(Src, await vpc.ResolveAsync(other.Ip));
        }
        finally
        {
            Storage.StopFailing();
        }

        // Back: the interleaving repoint has the shard read (by a request that runs alone) before it looks.
        await vpc.RepointFlowAsync(moved.Ip, moved.VmId, Dst);
        var after = await vpc.GetAsync();
        Assert.Equal(before.Flows.SetItem(moved.Ip, moved with { HostId = Dst }).OrderBy(f => f.Key, StringComparer.Ordinal), after.Flows.OrderBy(f => f.Key, StringComparer.Ordinal));
        await fixture.Cluster.DeactivateAsync(vpc);
        AssertSameTable(after, await vpc.GetAsync());
    }

    [Fact]
    public void The_shard_of_an_IP_is_stable_and_every_shard_is_used()
    {
        // Stored rows depend on this mapping: these values must never change.
        Assert.Equal(VpcFlowShards.ShardOf("10.0.0.11"), VpcFlowShards.ShardOf(new string("10.0.0.11".ToCharArray())));
        Assert.Equal(
            [51, 42, 56, 31],
            new[] { "10.0.0.1", "10.0.0.2", "192.168.1.1", "172.16.254.3" }.Select(VpcFlowShards.ShardOf));
        Assert.Equal(VpcFlowShards.Count, Flows(640).Select(f => VpcFlowShards.ShardOf(f.Ip)).Distinct().Count());
        Assert.Equal("vpc-a/07", VpcFlowShards.Key("vpc-a", 7));
        Assert.Equal(7, VpcFlowShards.ShardOfKey("vpc-a/07"));
        Assert.Equal(-1, VpcFlowShards.ShardOfKey("vpc-a"));
    }

    private Serializer Serializer => fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<Serializer>();

    private static bool SameShard(string a, string b) => VpcFlowShards.ShardOf(a) == VpcFlowShards.ShardOf(b);

    private IVpcFlowShardGrain Shard(string vpcId, string ip) =>
        fixture.Grains.GetGrain<IVpcFlowShardGrain>(VpcFlowShards.Key(vpcId, VpcFlowShards.ShardOf(ip)));

    /// <summary>Deterministic addresses, so the shards they fall in are the same on every run.</summary>
    private static FlowEntry[] Flows(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new FlowEntry($"10.20.{i / 200}.{(i % 200) + 1}", TestFleet.RandomMac(), $"vm-{i}", Src))];

    private async Task<(IVpcFlowTableGrain Vpc, string VpcId, FlowEntry[] Flows)> NewVpcAsync(int count)
    {
        var id = TestFleet.Unique("vpc");
        var vpc = fixture.Grains.GetGrain<IVpcFlowTableGrain>(id);
        var flows = Flows(count);
        foreach (var flow in flows)
        {
            await vpc.AddFlowAsync(flow);
        }

        return (vpc, id, flows);
    }

    private async Task<VpcFlowTableGrainState> ReadTableRowAsync(IVpcFlowTableGrain vpc)
    {
        var row = new GrainState<VpcFlowTableGrainState>(new VpcFlowTableGrainState());
        await Storage.ReadStateAsync(TableState, vpc.GetGrainId(), row);
        return Assert.IsType<VpcFlowTableGrainState>(row.State);
    }

    /// <summary>The last change wrote the table's own row once, with no flow in it, and nothing else.</summary>
    private void AssertTableWrite(IVpcFlowTableGrain vpc, int relays)
    {
        var write = Assert.Single(Storage.Writes);
        Assert.Equal((TableState, vpc.GetGrainId(), 0, relays), (write.StateName, write.GrainId, write.Flows, write.Relays));
        Storage.ClearWrites();
    }

    /// <summary>The last change wrote the shard of <paramref name="ip"/> once, holding <paramref name="flows"/> flows,
    /// a small fraction of the whole table's bytes, and nothing else.</summary>
    private void AssertShardWrite(string vpcId, string ip, int flows, int wholeTableBytes)
    {
        var write = Assert.Single(Storage.Writes);
        Assert.Equal((ShardState, Shard(vpcId, ip).GetGrainId(), flows), (write.StateName, write.GrainId, write.Flows));
        Assert.True(write.Bytes * 8 < wholeTableBytes, $"a shard write of {write.Bytes} bytes against {wholeTableBytes} for the whole table");
        Storage.ClearWrites();
    }

    private static void AssertSameTable(VpcFlowTable expected, VpcFlowTable actual)
    {
        Assert.Equal(expected.Flows.OrderBy(f => f.Key, StringComparer.Ordinal), actual.Flows.OrderBy(f => f.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Relays.OrderBy(r => r.Ip, StringComparer.Ordinal), actual.Relays.OrderBy(r => r.Ip, StringComparer.Ordinal));
    }
}
