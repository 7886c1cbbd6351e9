using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Tests.Qmp;

/// <summary>
/// A scripted QMP server on a Unix domain socket in a temp dir: the test decides what it reads and
/// sends, so replies can be reordered, withheld, malformed or cut off. Every wait is bounded.
/// </summary>
internal sealed class FakeQmpServer : IAsyncDisposable
{
    /// <summary>Bound on any single wait in these tests; far above what a healthy step takes.</summary>
    public static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(5);

    public const string DefaultGreeting =
        """{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 9}, "package": "v9.2.0"}, "capabilities": ["oob"]}}""";

    private readonly string _directory;
    private readonly Socket _listener;
    private Socket? _peer;
    private NetworkStream? _stream;
    private StreamReader? _reader;

    private FakeQmpServer(string directory, Socket listener)
    {
        _directory = directory;
        _listener = listener;
    }

    public string Path => System.IO.Path.Combine(_directory, "qmp.sock");

    public static FakeQmpServer Start()
    {
        // Short temp path: sun_path holds 108 bytes.
        var directory = Directory.CreateTempSubdirectory("qmp").FullName;
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(System.IO.Path.Combine(directory, "qmp.sock")));
        listener.Listen(4);
        return new FakeQmpServer(directory, listener);
    }

    /// <summary>Starts a server and a client and completes the handshake (greeting offers <c>oob</c>).</summary>
    public static async Task<(FakeQmpServer Server, QmpClient Client)> ConnectedAsync(QmpClientOptions? options = null)
    {
        var server = Start();
        var connecting = QmpClient.ConnectUnixAsync(server.Path, options);
        await server.AcceptAsync();
        await server.SendAsync(DefaultGreeting);
        var capabilities = await server.ReadCommandAsync();
        Assert.Equal("qmp_capabilities", (string?)capabilities["execute"]);
        await server.ReplyAsync(capabilities, "{}");
        var client = await connecting.WaitAsync(StepTimeout);
        return (server, client);
    }

    public async Task AcceptAsync()
    {
        _peer = await _listener.AcceptAsync().WaitAsync(StepTimeout);
        _stream = new NetworkStream(_peer, ownsSocket: true);
        _reader = new StreamReader(_stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false, leaveOpen: true);
    }

    public Task SendAsync(string json) => SendRawAsync(Encoding.UTF8.GetBytes(json + "\r\n"));

    public async Task SendRawAsync(byte[] bytes)
    {
        await _stream!.WriteAsync(bytes).AsTask().WaitAsync(StepTimeout);
        await _stream.FlushAsync().WaitAsync(StepTimeout);
    }

    /// <summary>Reads one command line the client sent.</summary>
    public async Task<JsonObject> ReadCommandAsync()
    {
        var line = await _reader!.ReadLineAsync().WaitAsync(StepTimeout);
        Assert.NotNull(line);
        return Assert.IsType<JsonObject>(JsonNode.Parse(line));
    }

    /// <summary>True when the client closed its end (the next read sees end of stream).</summary>
    public async Task<bool> ClientClosedAsync() => await _reader!.ReadLineAsync().WaitAsync(StepTimeout) is null;

    public Task ReplyAsync(JsonObject command, string returnJson) =>
        SendAsync($$"""{"return": {{returnJson}}, "id": {{command["id"]!.ToJsonString()}}}""");

    public Task ReplyErrorAsync(JsonObject command, string errorClass, string desc) =>
        SendAsync($$"""{"error": {"class": "{{errorClass}}", "desc": "{{desc}}"}, "id": {{command["id"]!.ToJsonString()}}}""");

    public Task SendEventAsync(string name, string dataJson) =>
        SendAsync($$"""{"event": "{{name}}", "data": {{dataJson}}, "timestamp": {"seconds": 1700000000, "microseconds": 250000} }""");

    /// <summary>Closes the connection from the server side, as a QEMU that exits would.</summary>
    public void ClosePeer()
    {
        _reader?.Dispose();
        _stream?.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        ClosePeer();
        _listener.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp dir left behind is harmless.
        }

        return ValueTask.CompletedTask;
    }
}
