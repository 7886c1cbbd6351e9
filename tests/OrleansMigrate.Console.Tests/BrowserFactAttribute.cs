namespace OrleansMigrate.OperatorConsole.Tests;

/// <summary>
/// A test that needs a real browser: skipped — with the reason, never passed — when Chromium is not installed at
/// <see cref="ChromiumPath"/> (<c>tests/console/setup-chromium.sh</c> installs it; <c>tests/run.sh</c> calls it outside
/// <c>--fast</c>). Tests never install it themselves.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BrowserFactAttribute : FactAttribute
{
    /// <summary>Debian's <c>chromium</c> package, or <c>$OMIG_CHROMIUM</c> when set (e.g. a path that does not exist, to see
    /// the skip); Playwright launches it directly (its own browser download needs the internet).</summary>
    public static string ChromiumPath { get; } =
        Environment.GetEnvironmentVariable("OMIG_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static bool ChromiumPresent => File.Exists(ChromiumPath);

    public BrowserFactAttribute()
    {
        if (!ChromiumPresent)
        {
            Skip = $"no browser: {ChromiumPath} is not installed (tests/console/setup-chromium.sh installs it)";
        }
    }
}
