namespace OrleansMigrate.Hypervisor.Tests.Support;

/// <summary>Bounded polling for conditions that other threads make true.</summary>
internal static class Eventually
{
    /// <summary>Polls every 5 ms until <paramref name="condition"/> holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> TrueWithin(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
                return true;
            await Task.Delay(5);
        }

        return condition();
    }
}
