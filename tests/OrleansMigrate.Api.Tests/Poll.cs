using System.Net;
using System.Text.Json;

namespace OrleansMigrate.Api.Tests;

/// <summary>Polling a resource over HTTP until a condition holds, bounded in count and time.</summary>
public static class Poll
{
    public static async Task<JsonElement> UntilAsync(HttpClient http, string path, Func<JsonElement, bool> done, int seconds = 120)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        JsonElement last = default;
        for (var i = 0; i < seconds * 10 && DateTime.UtcNow < deadline; i++)
        {
            using var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            last = await ApiFixture.ReadJsonAsync(response);
            if (done(last))
            {
                return last;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"{path} did not reach the expected state within {seconds} s; last: {last}");
        return last;
    }
}
