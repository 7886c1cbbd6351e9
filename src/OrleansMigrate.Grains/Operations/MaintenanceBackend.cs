using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Grains.Operations;

/// <summary>What a host reports after maintenance.</summary>
/// <param name="Healthy">The host came back and passes its health check.</param>
/// <param name="FirmwareVersion">The firmware version it runs now, as the host itself reports it.</param>
/// <param name="Detail">What the check said, for the campaign report.</param>
public sealed record HostCheck(bool Healthy, string? FirmwareVersion, string? Detail);

/// <summary>
/// How a rolling-upgrade campaign upgrades and checks one (drained) host. Upgrades must be idempotent: a campaign
/// that resumes after a control-silo restart runs the upgrade of a host that was in progress again.
/// </summary>
public interface IMaintenanceBackend
{
    /// <summary>Upgrades the host's firmware; throws with the reason when it fails.</summary>
    Task UpgradeAsync(string hostId, string firmwareVersion, CancellationToken cancellationToken);

    /// <summary>Health and version of the host as it reports them after the upgrade.</summary>
    Task<HostCheck> CheckAsync(string hostId, CancellationToken cancellationToken);
}

/// <summary>Maintenance settings (<c>Omig:Maintenance:…</c>).</summary>
public sealed class MaintenanceOptions
{
    /// <summary><c>simulated</c> (default) or <c>command</c>.</summary>
    public string Backend { get; set; } = "simulated";

    /// <summary>Simulated: how long an upgrade takes, ms (0–600000); default 2000.</summary>
    public int SimulatedUpgradeMs { get; set; } = 2000;

    /// <summary>Command: the executable run as <c>COMMAND upgrade HOST VERSION</c> (exit 0 = done) and
    /// <c>COMMAND check HOST</c> (exit 0 = healthy; first line of stdout = the firmware version). Never through a shell.</summary>
    public string? Command { get; set; }

    /// <summary>Optional: an executable run as <c>COMMAND VM OWNER OPERATION POLICY</c> before a fleet operation moves a VM
    /// whose policy notifies its owner (exit 0 = delivered; a failure holds the VM back). Never through a shell.</summary>
    public string? NotifyCommand { get; set; }

    /// <summary>Command: time limit of one run, seconds (1–86400); default 1800. The process is killed after it.</summary>
    public int TimeoutSeconds { get; set; } = 1800;

    public List<string> Check(string prefix = "Omig:Maintenance:")
    {
        var errors = new List<string>();
        var backend = Backend.Trim().ToLowerInvariant();
        if (backend is not ("simulated" or "command"))
        {
            errors.Add($"{prefix}Backend: '{Backend}' is not one of simulated, command");
        }

        if (SimulatedUpgradeMs is < 0 or > 600_000)
        {
            errors.Add($"{prefix}SimulatedUpgradeMs: {SimulatedUpgradeMs} is not between 0 and 600000");
        }

        if (TimeoutSeconds is < 1 or > 86_400)
        {
            errors.Add($"{prefix}TimeoutSeconds: {TimeoutSeconds} is not between 1 and 86400");
        }

        if (NotifyCommand is { Length: > 0 } notify && (!Path.IsPathFullyQualified(notify) || !File.Exists(notify)))
        {
            errors.Add($"{prefix}NotifyCommand: '{notify}' is not an absolute path to an existing executable");
        }

        if (backend == "command")
        {
            if (string.IsNullOrWhiteSpace(Command) || !Path.IsPathFullyQualified(Command))
            {
                errors.Add($"{prefix}Command: an absolute path to an executable is required with the command backend");
            }
            else if (!File.Exists(Command))
            {
                errors.Add($"{prefix}Command: '{Command}' does not exist");
            }
        }

        return errors;
    }
}

/// <summary>
/// The simulated maintenance backend: an upgrade takes <see cref="MaintenanceOptions.SimulatedUpgradeMs"/>, can fail
/// through the fault seam (step <c>maintenance.upgrade</c>, subject the host id) and records the new version, which
/// the check then reports. A host never upgraded reports no version (the campaign then keeps the registry's).
/// </summary>
public sealed class SimulatedMaintenanceBackend(MaintenanceOptions options, IFaultInjector faults, TimeProvider time) : IMaintenanceBackend
{
    private readonly ConcurrentDictionary<string, string> _installed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _broken = new(StringComparer.Ordinal);

    /// <summary>Makes the host fail its health check after its next upgrade (tests).</summary>
    public void BreakOnUpgrade(string hostId, string reason) => _broken[hostId] = reason;

    public async Task UpgradeAsync(string hostId, string firmwareVersion, CancellationToken cancellationToken)
    {
        FleetValidation.RequireId("host", hostId);
        if (!VersionNumber.IsValid(firmwareVersion))
        {
            throw new ArgumentException($"'{firmwareVersion}' is not a version", nameof(firmwareVersion));
        }

        await faults.BeforeAsync(FaultSteps.MaintenanceUpgrade, hostId, cancellationToken);
        await Task.Delay(TimeSpan.FromMilliseconds(options.SimulatedUpgradeMs), time, cancellationToken);
        _installed[hostId] = firmwareVersion;
    }

    public Task<HostCheck> CheckAsync(string hostId, CancellationToken cancellationToken) =>
        Task.FromResult(_broken.TryRemove(hostId, out var why)
            ? new HostCheck(false, _installed.GetValueOrDefault(hostId), why)
            : new HostCheck(true, _installed.GetValueOrDefault(hostId), "simulated host up"));
}

/// <summary>Runs the operator's command: <c>COMMAND upgrade HOST VERSION</c> and <c>COMMAND check HOST</c>, from an
/// argument list (never a shell), killed after <see cref="MaintenanceOptions.TimeoutSeconds"/>.</summary>
public sealed class CommandMaintenanceBackend(MaintenanceOptions options) : IMaintenanceBackend
{
    public async Task UpgradeAsync(string hostId, string firmwareVersion, CancellationToken cancellationToken)
    {
        FleetValidation.RequireId("host", hostId);
        if (!VersionNumber.IsValid(firmwareVersion))
        {
            throw new ArgumentException($"'{firmwareVersion}' is not a version", nameof(firmwareVersion));
        }

        var (code, _, stderr) = await RunAsync(["upgrade", hostId, firmwareVersion], cancellationToken);
        if (code != 0)
        {
            throw new InvalidOperationException($"upgrade command exited {code}: {Tail(stderr)}");
        }
    }

    public async Task<HostCheck> CheckAsync(string hostId, CancellationToken cancellationToken)
    {
        FleetValidation.RequireId("host", hostId);
        var (code, stdout, stderr) = await RunAsync(["check", hostId], cancellationToken);
        var version = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        return new HostCheck(code == 0, VersionNumber.IsValid(version) ? version : null, code == 0 ? "check passed" : $"check exited {code}: {Tail(stderr)}");
    }

    private async Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(options.Command!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {options.Command}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(options.TimeoutSeconds));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"maintenance command '{args[0]}' did not finish within {options.TimeoutSeconds} s; killed"));
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    private static string Tail(string text) => text.Length > 500 ? text[^500..].Trim() : text.Trim();
}
