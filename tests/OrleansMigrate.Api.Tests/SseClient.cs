using System.Text.Json;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Api.Tests;

/// <summary>A server-sent-events reader for the tests: connects (returns once the answer's headers are in, so the server
/// has registered it), then collects every event in the background until disposed.</summary>
public sealed class SseClient : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly HttpResponseMessage _response;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private readonly List<SseEvent> _events = [];

    private SseClient(HttpClient http, HttpResponseMessage response)
    {
        _http = http;
        _response = response;
        _reader = Task.Run(ReadAsync);
    }

    public static async Task<SseClient> ConnectAsync(ApiFixture fixture, string key, string path, string? lastEventId = null)
    {
        var http = fixture.Http(key);
        http.Timeout = Timeout.InfiniteTimeSpan;
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, connect.Token);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new SseClient(http, response);
    }

    public IReadOnlyList<SseEvent> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Waits (at most <paramref name="limit"/>) until an event satisfies <paramref name="match"/>; returns it.</summary>
    public async Task<SseEvent> WaitForAsync(Func<SseEvent, bool> match, TimeSpan limit, string what)
    {
        try
        {
            return await Eventually.ObjectAsync(() =>
            {
                var found = Events.FirstOrDefault(match);
                Assert.False(found is null && _reader.IsCompleted, $"the stream ended before an event {what}");
                return Task.FromResult(found);
            }, limit, $"an event {what}");
        }
        catch (TimeoutException)
        {
            Assert.Fail($"no event {what} within {limit.TotalSeconds} s; got {Events.Count}: {string.Join(" | ", Events.TakeLast(5).Select(e => $"{e.Id} {e.Name}"))}");
            throw;
        }
    }

    private async Task ReadAsync()
    {
        try
        {
            using var reader = new StreamReader(await _response.Content.ReadAsStreamAsync(_stop.Token));
            string? id = null, name = null, data = null;
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    if (name is not null && data is not null)
                    {
                        lock (_events)
                        {
                            _events.Add(new SseEvent(id, name, JsonDocument.Parse(data).RootElement.Clone()));
                        }
                    }

                    (id, name, data) = (null, null, null);
                }
                else if (line.StartsWith("id: ", StringComparison.Ordinal))
                {
                    id = line[4..];
                }
                else if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    name = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data = line[6..];
                }
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _response.Dispose();
        await _reader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _http.Dispose();
        _stop.Dispose();
    }
}

/// <summary>One event: its id, name and JSON data.</summary>
public sealed record SseEvent(string? Id, string Name, JsonElement Data)
{
    /// <summary>The sequence number of an <c>EPOCH-SEQ</c> id.</summary>
    public long Seq => long.Parse(Id![(Id!.LastIndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    public string? MigrationId => Name == "status" ? Data.GetProperty("migration_id").GetString() : null;

    public string? Phase => Name == "status" ? Data.GetProperty("phase").GetString() : null;
}
