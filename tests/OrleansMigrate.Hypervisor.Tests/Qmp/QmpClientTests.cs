using System.Text.Json.Nodes;
using System.Threading.Channels;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Tests.Qmp;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class QmpClientTests
{
    private static readonly TimeSpan Step = FakeQmpServer.StepTimeout;

    [Fact]
    public async Task HandshakeReadsTheGreetingAndEnablesRequestedCapabilities()
    {
        await using var server = FakeQmpServer.Start();
        var options = new QmpClientOptions { Capabilities = { "oob" } };
        var connecting = QmpClient.ConnectUnixAsync(server.Path, options);
        await server.AcceptAsync();
        await server.SendAsync(FakeQmpServer.DefaultGreeting);

        var negotiate = await server.ReadCommandAsync();
        Assert.Equal("qmp_capabilities", (string?)negotiate["execute"]);
        Assert.Equal("""["oob"]""", negotiate["arguments"]!["enable"]!.ToJsonString());
        await server.ReplyAsync(negotiate, "{}");

        await using var client = await connecting.WaitAsync(Step);
        Assert.True(client.IsConnected);
        Assert.Equal(["oob"], client.Greeting.Capabilities);
        Assert.Equal(9, (int)client.Greeting.Version!["qemu"]!["major"]!);
    }

    [Fact]
    public async Task TwoCommandsInFlightGetTheirOwnRepliesWhenAnsweredOutOfOrder()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = client;

        var status = client.ExecuteAsync("query-status");
        var migrate = client.ExecuteAsync("query-migrate");
        var first = await server.ReadCommandAsync();
        var second = await server.ReadCommandAsync();
        Assert.NotEqual((string?)first["id"], (string?)second["id"]);

        await server.ReplyAsync(second, """{"status": "active"}""");
        await server.ReplyAsync(first, """{"running": true, "status": "running"}""");

        Assert.Equal("running", (string?)(await status.WaitAsync(Step))!["status"]);
        Assert.Equal("active", (string?)(await migrate.WaitAsync(Step))!["status"]);
    }

    [Fact]
    public async Task ArgumentsAreSentAndTheReturnNodeCanBeReparented()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = client;

        var call = client.ExecuteAsync("migrate-set-parameters", new JsonObject { ["downtime-limit"] = 300 });
        var sent = await server.ReadCommandAsync();
        Assert.Equal(300, (int)sent["arguments"]!["downtime-limit"]!);
        await server.ReplyAsync(sent, """{"ok": 1}""");

        var result = await call.WaitAsync(Step);
        var holder = new JsonObject { ["result"] = result };
        Assert.Equal(1, (int)holder["result"]!["ok"]!);
    }

    [Fact]
    public async Task AnErrorReplyThrowsCommandExceptionWithClassDescAndCommandAndKeepsTheConnection()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = client;

        var call = client.ExecuteAsync("device_del", new JsonObject { ["id"] = "nic9" });
        var sent = await server.ReadCommandAsync();
        await server.ReplyErrorAsync(sent, "DeviceNotFound", "Device 'nic9' not found");

        var error = await Assert.ThrowsAsync<QmpCommandException>(() => call.WaitAsync(Step));
        Assert.Equal("DeviceNotFound", error.ErrorClass);
        Assert.Equal("Device 'nic9' not found", error.Description);
        Assert.Equal("device_del", error.Command);
        Assert.Contains("nic9", error.Message, StringComparison.Ordinal);

        var next = client.ExecuteAsync("query-status");
        await server.ReplyAsync(await server.ReadCommandAsync(), "{}");
        await next.WaitAsync(Step);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task AnEventIsDeliveredOnTheChannelWhileACommandIsPending()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = client;

        var call = client.ExecuteAsync("migrate", new JsonObject { ["uri"] = "tcp:10.0.0.2:4444" });
        var sent = await server.ReadCommandAsync();
        await server.SendEventAsync("MIGRATION", """{"status": "setup"}""");

        var evt = await client.Events.ReadAsync().AsTask().WaitAsync(Step);
        Assert.Equal("MIGRATION", evt.Name);
        Assert.Equal("setup", (string?)evt.Data!["status"]);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000).AddMilliseconds(250), evt.Timestamp);
        Assert.False(call.IsCompleted);

        await server.ReplyAsync(sent, "{}");
        await call.WaitAsync(Step);
    }

    [Fact]
    public async Task AFullEventBufferDropsTheOldestEventAndRepliesStillFlow()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync(new QmpClientOptions { EventCapacity = 2 });
        await using var _ = server;
        await using var __ = client;

        var call = client.ExecuteAsync("query-status");
        var sent = await server.ReadCommandAsync();
        for (var i = 0; i < 3; i++)
            await server.SendEventAsync("TICK", $$"""{"n": {{i}}}""");
        await server.ReplyAsync(sent, "{}");
        await call.WaitAsync(Step);

        Assert.True(client.Events.TryRead(out var a));
        Assert.True(client.Events.TryRead(out var b));
        Assert.False(client.Events.TryRead(out var _));
        Assert.Equal([1, 2], new[] { (int)a.Data!["n"]!, (int)b.Data!["n"]! });
    }

    [Fact]
    public async Task ACommandWithoutAReplyTimesOutNamingTheCommandAndALateReplyIsIgnored()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = client;

        var timeout = TimeSpan.FromMilliseconds(50);
        var call = client.ExecuteAsync("query-migrate", timeout: timeout);
        var sent = await server.ReadCommandAsync();

        var error = await Assert.ThrowsAsync<QmpTimeoutException>(() => call.WaitAsync(Step));
        Assert.IsAssignableFrom<TimeoutException>(error);
        Assert.Equal("query-migrate", error.Command);
        Assert.Equal(timeout, error.Timeout);
        Assert.Contains("query-migrate", error.Message, StringComparison.Ordinal);

        await server.ReplyAsync(sent, "{}");
        var next = client.ExecuteAsync("query-status");
        await server.ReplyAsync(await server.ReadCommandAsync(), """{"status": "running"}""");
        Assert.Equal("running", (string?)(await next.WaitAsync(Step))!["status"]);
    }

    [Fact]
    public async Task CallerCancellationSurfacesAsCancellationNotTimeout()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = client;

        using var cts = new CancellationTokenSource();
        var call = client.ExecuteAsync("query-migrate", cancellationToken: cts.Token);
        await server.ReadCommandAsync();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Step));
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task TheServerClosingMidCommandFailsEveryPendingCommandFast()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = client;

        var first = client.ExecuteAsync("migrate", timeout: Timeout.InfiniteTimeSpan);
        var second = client.ExecuteAsync("query-migrate", timeout: Timeout.InfiniteTimeSpan);
        await server.ReadCommandAsync();
        await server.ReadCommandAsync();
        server.ClosePeer();

        var error = await Assert.ThrowsAsync<QmpConnectionException>(() => first.WaitAsync(Step));
        Assert.Equal(QmpConnectionFailure.Closed, error.Failure);
        Assert.Equal("migrate", error.Command);
        var other = await Assert.ThrowsAsync<QmpConnectionException>(() => second.WaitAsync(Step));
        Assert.Equal("query-migrate", other.Command);

        Assert.False(client.IsConnected);
        await Assert.ThrowsAsync<QmpConnectionException>(() => client.Events.Completion.WaitAsync(Step));
        var late = await Assert.ThrowsAsync<QmpConnectionException>(() => client.ExecuteAsync("query-status").WaitAsync(Step));
        Assert.Equal(QmpConnectionFailure.Closed, late.Failure);
    }

    [Fact]
    public async Task BytesThatAreNotQmpFailPendingCommandsAsProtocolViolation()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = client;

        var call = client.ExecuteAsync("query-status");
        await server.ReadCommandAsync();
        await server.SendAsync("this is not json");

        var error = await Assert.ThrowsAsync<QmpConnectionException>(() => call.WaitAsync(Step));
        Assert.Equal(QmpConnectionFailure.ProtocolViolation, error.Failure);
        Assert.True(await server.ClientClosedAsync());
    }

    [Fact]
    public async Task ASecondGreetingIsAProtocolViolation()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;
        await using var __ = client;

        var call = client.ExecuteAsync("query-status");
        await server.SendAsync(FakeQmpServer.DefaultGreeting);

        var error = await Assert.ThrowsAsync<QmpConnectionException>(() => call.WaitAsync(Step));
        Assert.Equal(QmpConnectionFailure.ProtocolViolation, error.Failure);
    }

    [Fact]
    public async Task DisposalFailsPendingCommandsAndCompletesEvents()
    {
        var (server, client) = await FakeQmpServer.ConnectedAsync();
        await using var _ = server;

        var call = client.ExecuteAsync("migrate", timeout: Timeout.InfiniteTimeSpan);
        await server.ReadCommandAsync();
        await client.DisposeAsync().AsTask().WaitAsync(Step);

        var error = await Assert.ThrowsAsync<QmpConnectionException>(() => call.WaitAsync(Step));
        Assert.Equal(QmpConnectionFailure.Disposed, error.Failure);
        await client.Events.Completion.WaitAsync(Step);
        Assert.True(await server.ClientClosedAsync());
        await client.DisposeAsync();
    }

    [Fact]
    public async Task ConnectingToAMissingSocketFailsWithConnectFailed()
    {
        var path = Path.Combine(Path.GetTempPath(), $"qmp-missing-{Guid.NewGuid():N}.sock");

        var error = await Assert.ThrowsAsync<QmpConnectionException>(() => QmpClient.ConnectUnixAsync(path).WaitAsync(Step));

        Assert.Equal(QmpConnectionFailure.ConnectFailed, error.Failure);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AServerThatNeverGreetsTimesOutTheConnect()
    {
        await using var server = FakeQmpServer.Start();
        var options = new QmpClientOptions { ConnectTimeout = TimeSpan.FromMilliseconds(80) };
        var connecting = QmpClient.ConnectUnixAsync(server.Path, options);
        await server.AcceptAsync();

        var error = await Assert.ThrowsAsync<QmpTimeoutException>(() => connecting.WaitAsync(Step));
        Assert.Equal("(greeting)", error.Command);
        Assert.True(await server.ClientClosedAsync());
    }

    [Fact]
    public async Task AServerThatClosesBeforeGreetingFailsTheConnectAsClosed()
    {
        await using var server = FakeQmpServer.Start();
        var connecting = QmpClient.ConnectUnixAsync(server.Path);
        await server.AcceptAsync();
        server.ClosePeer();

        var error = await Assert.ThrowsAsync<QmpConnectionException>(() => connecting.WaitAsync(Step));
        Assert.Equal(QmpConnectionFailure.Closed, error.Failure);
    }

    [Fact]
    public async Task ARejectedCapabilityFailsTheConnectWithTheCommandErrorAndClosesTheSocket()
    {
        await using var server = FakeQmpServer.Start();
        var options = new QmpClientOptions { Capabilities = { "teleport" } };
        var connecting = QmpClient.ConnectUnixAsync(server.Path, options);
        await server.AcceptAsync();
        await server.SendAsync(FakeQmpServer.DefaultGreeting);
        var negotiate = await server.ReadCommandAsync();
        await server.ReplyErrorAsync(negotiate, "GenericError", "Capability 'teleport' not available");

        var error = await Assert.ThrowsAsync<QmpCommandException>(() => connecting.WaitAsync(Step));
        Assert.Equal("qmp_capabilities", error.Command);
        Assert.True(await server.ClientClosedAsync());
    }

    [Fact]
    public void OptionsOutsideTheirRangesAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new QmpClientOptions { CommandTimeout = TimeSpan.Zero }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new QmpClientOptions { EventCapacity = 0 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new QmpClientOptions { MaxFrameBytes = 10 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new QmpClientOptions { EventFullMode = (BoundedChannelFullMode)42 }.Validate());
        new QmpClientOptions { CommandTimeout = Timeout.InfiniteTimeSpan }.Validate();
    }
}
