using System.Net;
using System.Text.Json;
using OrleansMigrate.Tests.Shared;

namespace OrleansMigrate.Api.Tests;

/// <summary>Polling a resource over HTTP until a condition holds, bounded in time.</summary>
public static class Poll
{
    public static async Task<JsonElement> UntilAsync(HttpClient http, string path, Func<JsonElement, bool> done, int seconds = 120)
    {
        JsonElement last = default;
        try
        {
            return await Eventually.UntilAsync(async () =>
            {
                using var response = await http.GetAsync(path);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                return last = await ApiFixture.ReadJsonAsync(response);
            }, done, TimeSpan.FromSeconds(seconds), $"{path} reaches the expected state", TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{path} did not reach the expected state within {seconds} s; last: {last}");
            return last;
        }
    }
}
