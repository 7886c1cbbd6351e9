using System.Collections.Immutable;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Tests.Migration;

/// <summary>The admission decision across scheduler shards (<see cref="AdmissionLedger"/>), without a cluster.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class AdmissionLedgerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private static readonly MigrationAdmissionOptions Limits = new() { MaxPerCluster = 3, MaxOutboundPerHost = 2, MaxInboundPerHost = 2 };

    private static AdmissionSlot S(string id, string from, string to, MigrationPriority p = MigrationPriority.User, string? vm = null) =>
        new(id, vm ?? "vm-" + id, from, to, p);

    /// <summary>A ledger of <paramref name="shards"/> shards, each having reported that it holds nothing.</summary>
    private static AdmissionLedger Ready(int shards = 4)
    {
        var ledger = new AdmissionLedger(shards);
        for (var s = 0; s < shards; s++)
        {
            ledger.Report(s, []);
        }

        return ledger;
    }

    public static TheoryData<string, ImmutableArray<AdmissionSlot>, ImmutableArray<AdmissionSlot>, string[], string?> Cases => new()
    {
        { "room for all", [], [S("a", "h1", "h2"), S("b", "h3", "h4")], ["a", "b"], null },
        { "cluster limit across shards", [S("x", "h5", "h6"), S("y", "h7", "h8")], [S("a", "h1", "h2"), S("b", "h3", "h4")], ["a"],
            "cluster limit: 3 of 3 migrations in flight (MaxPerCluster)" },
        { "source host limit counts the other shard's", [S("x", "h1", "h6"), S("y", "h1", "h8")], [S("a", "h1", "h2")], [],
            "source host limit: 'h1' has 2 of 2 outgoing migrations in flight (MaxOutboundPerHost)" },
        { "destination host limit counts the other shard's", [S("x", "h5", "h2"), S("y", "h7", "h2")], [S("a", "h1", "h2")], [],
            "destination host limit: 'h2' has 2 of 2 incoming migrations in flight (MaxInboundPerHost)" },
        { "one migration per VM across shards", [S("x", "h5", "h6", vm: "vm-1")], [S("a", "h6", "h2", vm: "vm-1")], [],
            "VM 'vm-1' is still being migrated by x (admission has not seen it end yet)" },
        { "candidates granted earlier in the same request count", [], [S("a", "h1", "h2"), S("b", "h1", "h3"), S("c", "h1", "h4")], ["a", "b"],
            "source host limit: 'h1' has 2 of 2 outgoing migrations in flight (MaxOutboundPerHost)" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Limits_count_every_shards_slots(string name, ImmutableArray<AdmissionSlot> otherShard, ImmutableArray<AdmissionSlot> candidates, string[] granted, string? lastReason)
    {
        var ledger = Ready();
        ledger.Report(2, otherShard);
        var d = ledger.Decide(1, [], candidates, Limits, T0);
        Assert.True(granted.SequenceEqual(d.Granted), $"{name}: granted {string.Join(",", d.Granted)}");
        if (lastReason is not null)
        {
            Assert.Equal(lastReason, d.Refused[candidates[^1].MigrationId]);
        }
        else
        {
            Assert.Empty(d.Refused);
        }
    }

    [Fact]
    public void A_shards_report_replaces_what_it_held_so_a_missed_release_heals()
    {
        var ledger = Ready();
        Assert.Equal<string>(["a", "b"], ledger.Decide(1, [], [S("a", "h1", "h2"), S("b", "h3", "h4")], Limits, T0).Granted);
        Assert.Equal(2, ledger.InFlight);

        // Shard 1 says it holds only b now (a ended; its release was never sent): a's slot is free again.
        var d = ledger.Decide(1, [S("b", "h3", "h4")], [S("c", "h5", "h6"), S("e", "h7", "h8")], Limits, T0);
        Assert.Equal<string>(["c", "e"], d.Granted);
        Assert.Equal(3, ledger.InFlight);
    }

    [Fact]
    public void A_candidate_that_already_holds_its_slot_is_granted_again_without_taking_another()
    {
        var ledger = Ready();
        ledger.Decide(1, [], [S("a", "h1", "h2")], Limits, T0);

        // The shard lost the write of a's admission and asks again with a still queued.
        var d = ledger.Decide(1, [], [S("a", "h1", "h2")], Limits, T0);
        Assert.Equal<string>(["a"], d.Granted);
        Assert.Equal(1, ledger.InFlight);
    }

    [Fact]
    public void A_new_ledger_grants_nothing_until_every_shard_has_reported()
    {
        var ledger = new AdmissionLedger(3);
        ledger.Report(0, []);
        var d = ledger.Decide(1, [], [S("a", "h1", "h2")], Limits, T0);
        Assert.Empty(d.Granted);
        Assert.Equal("admission is recovering: scheduler shard(s) 2 have not reported the migrations they admitted yet", d.Refused["a"]);

        ledger.Report(2, [S("x", "h1", "h9"), S("y", "h1", "h8")]);
        d = ledger.Decide(1, [], [S("a", "h1", "h2")], Limits, T0);
        Assert.Empty(d.Granted);
        Assert.StartsWith("source host limit: 'h1' has 2 of 2", d.Refused["a"], StringComparison.Ordinal);
    }

    [Fact]
    public void Maintenance_waiting_in_one_shard_keeps_user_migrations_of_another_off_the_same_limit()
    {
        var ledger = Ready();
        ledger.Report(3, [S("x", "h5", "h6"), S("y", "h7", "h8"), S("z", "h9", "h10")]);

        // Shard 1's maintenance migration finds the cluster full and waits.
        var m = ledger.Decide(1, [], [S("m", "h1", "h2", MigrationPriority.Maintenance)], Limits, T0);
        Assert.Empty(m.Granted);

        // A slot frees; shard 2's user migration asks first, but the maintenance one is waiting for that limit.
        ledger.Report(3, [S("x", "h5", "h6"), S("y", "h7", "h8")]);
        var u = ledger.Decide(2, [], [S("u", "h3", "h4")], Limits, T0.AddSeconds(1));
        Assert.Empty(u.Granted);
        Assert.Equal("waiting behind maintenance migration m of another scheduler shard for the same cluster limit (MaxPerCluster)", u.Refused["u"]);

        // The maintenance migration asks again and gets the slot; the user one waits for the next.
        Assert.Equal<string>(["m"], ledger.Decide(1, [], [S("m", "h1", "h2", MigrationPriority.Maintenance)], Limits, T0.AddSeconds(2)).Granted);
        Assert.StartsWith("cluster limit", ledger.Decide(2, [], [S("u", "h3", "h4")], Limits, T0.AddSeconds(2)).Refused["u"], StringComparison.Ordinal);
    }

    [Fact]
    public void A_waiting_maintenance_migration_holds_back_only_its_own_limit_and_only_for_a_while()
    {
        var ledger = Ready();
        ledger.Report(3, [S("x", "h1", "h6"), S("y", "h1", "h8")]);
        Assert.Empty(ledger.Decide(1, [], [S("m", "h1", "h2", MigrationPriority.Maintenance)], Limits, T0).Granted);

        // Another source host's user migration is not behind it.
        Assert.Equal<string>(["u"], ledger.Decide(2, [], [S("u", "h3", "h4")], Limits, T0.AddSeconds(1)).Granted);

        // h1 frees a slot, but the maintenance migration stopped asking long ago (its shard dropped it): not held back.
        ledger.Report(3, [S("x", "h1", "h6")]);
        Assert.Equal<string>(["v"], ledger.Decide(2, [S("u", "h3", "h4")], [S("v", "h1", "h5")], Limits, T0 + AdmissionLedger.WaitMemory + TimeSpan.FromSeconds(2)).Granted);
    }

    [Fact]
    public void A_maintenance_migration_that_keeps_asking_keeps_its_place_beyond_the_wait_memory()
    {
        var ledger = Ready();
        ledger.Report(3, [S("x", "h5", "h6"), S("y", "h7", "h8"), S("z", "h9", "h10")]);
        var t = T0;
        for (var i = 0; i < 5; i++, t = t.AddSeconds(2))
        {
            Assert.Empty(ledger.Decide(1, [], [S("m", "h1", "h2", MigrationPriority.Maintenance)], Limits, t).Granted);
        }

        // 10 s after its first refusal (twice the wait memory), a slot frees and a user migration asks first.
        ledger.Report(3, [S("x", "h5", "h6"), S("y", "h7", "h8")]);
        Assert.Empty(ledger.Decide(2, [], [S("u", "h3", "h4")], Limits, t).Granted);
        Assert.Equal<string>(["m"], ledger.Decide(1, [], [S("m", "h1", "h2", MigrationPriority.Maintenance)], Limits, t).Granted);
    }

    [Fact]
    public void An_answer_given_before_the_shard_saw_its_grant_does_not_drop_that_grant()
    {
        var ledger = Ready();
        Assert.Equal<string>(["a", "b", "c"], ledger.Decide(1, [], [S("a", "h1", "h2"), S("b", "h3", "h4"), S("c", "h5", "h6")], Limits, T0).Granted);

        // The ledger's refresh asks shard 1, which answers before the grant reached it: nothing admitted yet.
        ledger.ReportAnswer(1, []);
        Assert.Equal(3, ledger.InFlight);
        Assert.StartsWith("cluster limit: 3 of 3", ledger.Decide(2, [], [S("d", "h7", "h8")], Limits, T0).Refused["d"], StringComparison.Ordinal);

        // Its own next request is its word: a ended, b and c run.
        ledger.Decide(1, [S("b", "h3", "h4"), S("c", "h5", "h6")], [], Limits, T0);
        ledger.ReportAnswer(1, [S("b", "h3", "h4")]);
        Assert.Equal(1, ledger.InFlight);
    }

    [Fact]
    public void A_shard_number_outside_the_ledger_is_refused()
    {
        var ledger = Ready(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Report(2, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Report(-1, []));
    }
}

/// <summary>Where a migration's scheduler shard is (<see cref="SchedulerShards"/>).</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class SchedulerShardsTests
{
    [Fact]
    public void Shard_keys_round_trip_and_shard_0_keeps_the_old_schedulers_key()
    {
        Assert.Equal(IMigrationSchedulerGrain.Key, SchedulerShards.KeyOf(0));
        for (var s = 0; s < IMigrationSchedulerGrain.Shards; s++)
        {
            Assert.Equal(s, SchedulerShards.ShardOfKey(SchedulerShards.KeyOf(s)));
        }

        Assert.Throws<ArgumentException>(() => SchedulerShards.ShardOfKey("scheduler/16"));
        Assert.Throws<ArgumentException>(() => SchedulerShards.ShardOfKey("scheduler/0"));
        Assert.Throws<ArgumentException>(() => SchedulerShards.ShardOfKey("other"));
        Assert.Throws<ArgumentOutOfRangeException>(() => SchedulerShards.KeyOf(IMigrationSchedulerGrain.Shards));
    }

    [Fact]
    public void A_new_migration_id_hashes_to_the_shard_it_was_drawn_for_and_keeps_the_id_format()
    {
        for (var s = 0; s < IMigrationSchedulerGrain.Shards; s++)
        {
            var id = SchedulerShards.NewMigrationId(s);
            Assert.Equal(s, SchedulerShards.OfMigration(id));
            Assert.Matches("^mig-[0-9a-f]{12}$", id);
        }
    }

    [Fact]
    public void Hosts_spread_over_the_shards_and_an_old_id_is_looked_up_in_shard_0_too()
    {
        var used = Enumerable.Range(0, 1000).Select(i => SchedulerShards.OfHost($"h-{i}")).Distinct().Count();
        Assert.Equal(IMigrationSchedulerGrain.Shards, used);

        var notZero = Enumerable.Range(0, 100).Select(_ => "mig-" + Guid.NewGuid().ToString("N")[..12]).First(id => SchedulerShards.OfMigration(id) != 0);
        Assert.Equal([SchedulerShards.OfMigration(notZero), 0], SchedulerShards.HolderShards(notZero));
        var zero = SchedulerShards.NewMigrationId(0);
        Assert.Equal([0], SchedulerShards.HolderShards(zero));
    }
}
