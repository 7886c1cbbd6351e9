using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Faults;

namespace OrleansMigrate.Grains.Operations;

/// <summary>
/// How the power manager switches a host's machine on and off (IPMI, Redfish, a lab's script). Both calls return once
/// the machine is in the asked state (on: booted far enough that its host silo starts); both must be idempotent, since a
/// power manager that resumes after a control-silo restart repeats the step that was in progress.
/// </summary>
public interface IPowerBackend
{
    /// <summary>Powers the host on (<paramref name="on"/>) or off; throws with the reason when it fails.</summary>
    Task SetPowerAsync(string hostId, bool on, CancellationToken cancellationToken);
}

/// <summary>Power management settings (<c>Omig:Power:…</c>).</summary>
public sealed class PowerOptions
{
    /// <summary><c>simulated</c> (default) or <c>command</c>.</summary>
    public string Backend { get; set; } = "simulated";

    /// <summary>Simulated: how long a power change takes, ms (0–600000); default 2000.</summary>
    public int SimulatedPowerMs { get; set; } = 2000;

    /// <summary>Command: the executable run as <c>COMMAND on HOST</c> and <c>COMMAND off HOST</c> (exit 0 = the host is
    /// in that state). Never through a shell.</summary>
    public string? Command { get; set; }

    /// <summary>Command: time limit of one run, seconds (1–86400); default 900. The process is killed after it.</summary>
    public int TimeoutSeconds { get; set; } = 900;

    /// <summary>The headroom kept free in every failure domain when no plan was applied yet, percent of cores and memory
    /// (0–90); default 20. A power plan's <c>--headroom</c> replaces it once applied.</summary>
    public int HeadroomPercent { get; set; } = 20;

    /// <summary>The host label that names a host's failure domain; default <c>rack</c>. Hosts without it share one domain.</summary>
    public string FailureDomainLabel { get; set; } = "rack";

    /// <summary>Hosts of a power plan drained at once (1–1000); default 16. Each drain moves up to its own limit on top.</summary>
    public int MaxParallelDrains { get; set; } = 16;

    /// <summary>Seconds between checks of every domain's headroom while any host is powered off (1–3600); default 10.</summary>
    public int WatchIntervalSeconds { get; set; } = 10;

    /// <summary>Seconds a powered-on host's agent may take to answer before the power-on counts as failed (1–3600); default 300.</summary>
    public int AgentWaitSeconds { get; set; } = 300;

    public List<string> Check(string prefix = "Omig:Power:")
    {
        var errors = new List<string>();
        var backend = Backend.Trim().ToLowerInvariant();
        if (backend is not ("simulated" or "command"))
        {
            errors.Add($"{prefix}Backend: '{Backend}' is not one of simulated, command");
        }

        if (SimulatedPowerMs is < 0 or > 600_000)
        {
            errors.Add($"{prefix}SimulatedPowerMs: {SimulatedPowerMs} is not between 0 and 600000");
        }

        if (TimeoutSeconds is < 1 or > 86_400)
        {
            errors.Add($"{prefix}TimeoutSeconds: {TimeoutSeconds} is not between 1 and 86400");
        }

        if (HeadroomPercent is < 0 or > Planning.PowerPlanner.MaxHeadroomPercent)
        {
            errors.Add($"{prefix}HeadroomPercent: {HeadroomPercent} is not between 0 and {Planning.PowerPlanner.MaxHeadroomPercent}");
        }

        if (string.IsNullOrWhiteSpace(FailureDomainLabel))
        {
            errors.Add($"{prefix}FailureDomainLabel: must name a host label");
        }

        if (MaxParallelDrains is < 1 or > 1000)
        {
            errors.Add($"{prefix}MaxParallelDrains: {MaxParallelDrains} is not between 1 and 1000");
        }

        if (WatchIntervalSeconds is < 1 or > 3600)
        {
            errors.Add($"{prefix}WatchIntervalSeconds: {WatchIntervalSeconds} is not between 1 and 3600");
        }

        if (AgentWaitSeconds is < 1 or > 3600)
        {
            errors.Add($"{prefix}AgentWaitSeconds: {AgentWaitSeconds} is not between 1 and 3600");
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
/// The simulated power backend: a change takes <see cref="PowerOptions.SimulatedPowerMs"/>, can fail through the fault
/// seam (step <c>power.set</c>, subject the host id) and is remembered, so tests can read what the machine is.
/// </summary>
public sealed class SimulatedPowerBackend(PowerOptions options, IFaultInjector faults, TimeProvider time) : IPowerBackend
{
    private readonly ConcurrentDictionary<string, bool> _on = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _broken = new(StringComparer.Ordinal);

    /// <summary>What the simulated machine is: true on, false off, null never switched.</summary>
    public bool? IsOn(string hostId) => _on.TryGetValue(hostId, out var on) ? on : null;

    /// <summary>Makes the next power change of the host fail with <paramref name="reason"/> (tests).</summary>
    public void BreakNext(string hostId, string reason) => _broken[hostId] = reason;

    public async Task SetPowerAsync(string hostId, bool on, CancellationToken cancellationToken)
    {
        FleetValidation.RequireId("host", hostId);
        await faults.BeforeAsync(FaultSteps.PowerSet, hostId, cancellationToken);
        if (_broken.TryRemove(hostId, out var why))
        {
            throw new InvalidOperationException(why);
        }

        await Task.Delay(TimeSpan.FromMilliseconds(options.SimulatedPowerMs), time, cancellationToken);
        _on[hostId] = on;
    }
}

/// <summary>Runs the operator's command: <c>COMMAND on HOST</c> / <c>COMMAND off HOST</c>, from an argument list (never a
/// shell), killed after <see cref="PowerOptions.TimeoutSeconds"/>; a non-zero exit fails with the end of its stderr.</summary>
public sealed class CommandPowerBackend(PowerOptions options) : IPowerBackend
{
    public async Task SetPowerAsync(string hostId, bool on, CancellationToken cancellationToken)
    {
        FleetValidation.RequireId("host", hostId);
        var verb = on ? "on" : "off";
        var psi = new ProcessStartInfo(options.Command!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(verb);
        psi.ArgumentList.Add(hostId);
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
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"power command '{verb} {hostId}' did not finish within {options.TimeoutSeconds} s; killed"));
        }

        await stdout;
        var error = (await stderr).Trim();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"power command '{verb} {hostId}' exited {process.ExitCode}: {(error.Length > 500 ? error[^500..] : error)}");
        }
    }
}
