using System.Diagnostics;

namespace OrleansMigrate.Tests.Shared;

/// <summary>
/// The one wait-until helper of the test projects: polls a probe until it says done, for at most a limit, and fails
/// naming what it waited for. Errors the caller marks as transient (a silo joining or dying, a gateway restarting) are
/// retried until the limit; any other error fails at once. No fixed sleeps: a test waits for its condition.
/// </summary>
public static class Eventually
{
    /// <summary>Polls <paramref name="probe"/> until <paramref name="done"/> holds for its answer and returns that answer.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan limit, string what,
        TimeSpan? poll = null, Func<Exception, bool>? transient = null)
    {
        var clock = Stopwatch.StartNew();
        var every = poll ?? TimeSpan.FromMilliseconds(50);
        Exception? last = null;
        while (true)
        {
            try
            {
                var answer = await probe();
                if (done(answer))
                {
                    return answer;
                }
            }
            catch (Exception ex) when (transient?.Invoke(ex) == true && clock.Elapsed < limit)
            {
                last = ex;
            }

            if (clock.Elapsed >= limit)
            {
                throw new TimeoutException($"not within {limit}: {what}{(last is null ? "" : $" (last transient error: {last.GetBaseException().Message})")}");
            }

            await Task.Delay(every);
        }
    }

    /// <summary>Polls until <paramref name="probe"/> answers true.</summary>
    public static Task TrueAsync(Func<Task<bool>> probe, TimeSpan limit, string what, TimeSpan? poll = null, Func<Exception, bool>? transient = null) =>
        UntilAsync(probe, ok => ok, limit, what, poll, transient);

    /// <summary>Polls a local condition until it holds.</summary>
    public static Task TrueAsync(Func<bool> condition, TimeSpan limit, string what, TimeSpan? poll = null) =>
        UntilAsync(() => Task.FromResult(condition()), ok => ok, limit, what, poll);

    /// <summary>Polls until <paramref name="probe"/> answers something (not null) and returns it.</summary>
    public static async Task<T> SomeAsync<T>(Func<Task<T?>> probe, TimeSpan limit, string what, TimeSpan? poll = null)
        where T : struct =>
        (await UntilAsync(probe, answer => answer.HasValue, limit, what, poll)).GetValueOrDefault();

    /// <summary>Polls until <paramref name="probe"/> answers something (not null) and returns it.</summary>
    public static async Task<T> ObjectAsync<T>(Func<Task<T?>> probe, TimeSpan limit, string what, TimeSpan? poll = null)
        where T : class =>
        (await UntilAsync(probe, answer => answer is not null, limit, what, poll))!;
}
