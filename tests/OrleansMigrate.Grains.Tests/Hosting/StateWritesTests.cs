using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Tests.Hosting;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class StateWritesTests
{
    /// <summary>A persistent state whose "storage" is a field: writes fail as scripted; a read loads what storage holds.</summary>
    private sealed class FakeState : IPersistentState<List<string>>
    {
        public List<string> Stored { get; set; } = [];

        public Exception? NextWriteFails { get; set; }

        public int Reads { get; private set; }

        public List<string> State { get; set; } = [];

        public string? Etag { get; set; }

        public bool RecordExists => true;

        public Task ClearStateAsync() => Task.CompletedTask;

        public Task ReadStateAsync()
        {
            Reads++;
            State = [.. Stored];
            return Task.CompletedTask;
        }

        public Task WriteStateAsync()
        {
            if (NextWriteFails is { } fail)
            {
                NextWriteFails = null;
                return Task.FromException(fail);
            }

            Stored = [.. State];
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task A_failed_write_reverts_memory_and_a_version_conflict_reads_the_stored_state_back()
    {
        // Storage holds "a", "b" (an earlier write landed, unacknowledged); memory still says "a" and adds "c".
        var state = new FakeState { Stored = ["a", "b"], State = ["a"] };
        var before = state.State;
        state.State = [.. before, "c"];
        state.NextWriteFails = new Orleans.Storage.InconsistentStateException("version conflict");

        await Assert.ThrowsAsync<Orleans.Storage.InconsistentStateException>(() => state.WriteOrRevertAsync(() => state.State = before));

        Assert.Equal(["a", "b"], state.State);
        Assert.Equal(1, state.Reads);
    }

    [Fact]
    public async Task Any_other_failed_write_only_reverts_memory()
    {
        var state = new FakeState { Stored = ["a"], State = ["a"] };
        var before = state.State;
        state.State = [.. before, "c"];
        state.NextWriteFails = new TimeoutException("database did not answer");

        await Assert.ThrowsAsync<TimeoutException>(() => state.WriteOrRevertAsync(() => state.State = before));

        Assert.Equal(["a"], state.State);
        Assert.Equal(0, state.Reads);
    }
}
