using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Silo;

/// <summary>Whether this silo has printed its "up" line.</summary>
internal sealed class SiloStartState
{
    public volatile bool Up;
}

/// <summary>
/// Orleans' fatal-error handler ends the process with <c>Environment.FailFast</c> (SIGABRT, ".NET Process terminated.
/// FATAL EXCEPTION" and a core dump) — for instance when the cluster declared this silo dead. This one keeps Orleans'
/// judgement of what is unexpected and ends the process with one line on stderr and exit code 1 instead.
/// </summary>
internal sealed class ExitOnFatalError(IFatalErrorHandler? inner, SiloStartState state, OmigSiloOptions options) : IFatalErrorHandler
{
    public static void Register(IServiceCollection services, OmigSiloOptions options)
    {
        var original = services.LastOrDefault(d => d.ServiceType == typeof(IFatalErrorHandler));
        services.RemoveAll<IFatalErrorHandler>();
        services.AddSingleton<IFatalErrorHandler>(sp => new ExitOnFatalError(
            original?.ImplementationType is { } type ? (IFatalErrorHandler)ActivatorUtilities.CreateInstance(sp, type) : null,
            sp.GetRequiredService<SiloStartState>(), options));
    }

    public bool IsUnexpected(Exception exception) => inner?.IsUnexpected(exception) ?? true;

    public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
    {
        var what = (context ?? exception?.GetBaseException().Message ?? "a fatal error").ReplaceLineEndings(" ");
        var dead = what.Contains("dead", StringComparison.OrdinalIgnoreCase);
        var line = dead
            ? $"the cluster declared this silo dead: its peers could not reach it{(options.Tls.SiloTlsOn ? " (with TLS: they refuse a certificate their CA did not issue; check --tls-cert against the other silos' --tls-ca)" : string.Empty)} ({what})"
            : what;
        Console.Out.Flush();
        Console.Error.WriteLine($"omig-silo: {(state.Up ? "stopped" : "failed to start")}: {line}");
        Console.Error.Flush();
        Exit(1);
    }

    // Ends the process at once, like the FailFast it replaces, but with an exit code instead of an abort.
    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void Exit(int status);
}
