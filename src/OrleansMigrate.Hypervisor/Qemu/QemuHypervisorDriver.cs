using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>
/// The QEMU driver: one QEMU process per VM on this host, driven over QMP. Migrations use QEMU's own
/// migration stream with <c>pause-before-switchover</c>: <see cref="IOutgoingMigration.PreSwitchover"/> completes on
/// the <c>pre-switchover</c> event, <see cref="IOutgoingMigration.FinalCopyAsync"/> sends <c>migrate-continue</c>
/// and returns on <c>completed</c>; the destination runs with <c>-S</c>, so it stays paused until
/// <see cref="IIncomingMigration.ResumeAsync"/> sends <c>cont</c> — the commit point is ours, not QEMU's.
/// </summary>
public sealed partial class QemuHypervisorDriver : IHypervisorDriver
{
    private readonly QemuDriverOptions _options;
    private readonly ConcurrentDictionary<string, QemuVm> _vms = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly SemaphoreSlim _sampling = new(1, 1);
    private readonly Lazy<Task> _adoption;
    private Task<AcceleratorChoice>? _acceleratorTask;
    private long _sequence;

    public QemuHypervisorDriver(string hostId, QemuDriverOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(hostId);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        HostId = hostId;
        _options = options;
        TimeProvider = timeProvider ?? TimeProvider.System;
        _adoption = new Lazy<Task>(AdoptAsync);
    }

    /// <summary>VMs this driver re-attached to at start (QEMU processes an earlier agent of this host left running).</summary>
    public int AdoptedVms { get; private set; }

    public string Kind => "qemu";

    public string HostId { get; }

    public TimeProvider TimeProvider { get; }

    /// <summary>The accelerator this host's guests start with and why, once decided (at the first launch); null before.</summary>
    public AcceleratorChoice? Accelerator => _acceleratorTask is { IsCompletedSuccessfully: true } t ? t.Result : null;

    internal QemuDriverOptions Options => _options;

    private Task<AcceleratorChoice> AcceleratorTask => _acceleratorTask ??= AcceleratorProbe.ResolveAsync(_options);

    /// <summary>Decides the accelerator now (for <c>auto</c>: the KVM probe, once per process) and returns it with the reason.</summary>
    public Task<AcceleratorChoice> ResolveAcceleratorAsync() => AcceleratorTask;

    public async Task<VmInfo> CreateVmAsync(VmSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        if (spec.Qemu is null)
            throw new ArgumentException($"VM '{spec.VmId}' has no QEMU settings (disk image).", nameof(spec));
        CheckImage(spec.Qemu.ImagePath);
        if (spec.Qemu.MachineType is { } machine && !QemuNames.IsMachineType(machine))
            throw new ArgumentException($"machine type '{machine}' is not a machine type name.", nameof(spec));
        CheckGuestDevices(spec.Qemu);
        spec.Qemu.NbdDisk?.Validate();

        await _adoption.Value.ConfigureAwait(false);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var vm = new QemuVm(spec) { HostId = HostId };
            if (!_vms.TryAdd(spec.VmId, vm))
                throw new InvalidOperationException($"VM '{spec.VmId}' already exists on host {HostId}.");
            return vm.Info();
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<VmInfo> StartVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var vm = Get(vmId);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (vm.State != VmState.Created)
                throw new InvalidOperationException($"VM '{vmId}' is {vm.State}, not Created.");
            var process = await LaunchAsync(vm, incoming: false, cancellationToken).ConfigureAwait(false);
            await process.ExecuteAsync("cont", cancellationToken: cancellationToken).ConfigureAwait(false);
            vm.State = VmState.Running;
            return vm.Info();
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<VmInfo> GetVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        await _adoption.Value.ConfigureAwait(false);
        return Get(vmId).Info();
    }

    public async Task<IReadOnlyList<VmInfo>> ListVmsAsync(CancellationToken cancellationToken = default)
    {
        await _adoption.Value.ConfigureAwait(false);
        return [.. _vms.Values.Select(v => v.Info())];
    }

    public async Task PauseVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var vm = Get(vmId);
        if (vm.State != VmState.Running)
            throw new InvalidOperationException($"VM '{vmId}' is {vm.State}, not Running.");
        await vm.Process!.ExecuteAsync("stop", cancellationToken: cancellationToken).ConfigureAwait(false);
        vm.State = VmState.Paused;
    }

    public async Task ResumeVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var vm = Get(vmId);
        if (vm.State != VmState.Paused)
            throw new InvalidOperationException($"VM '{vmId}' is {vm.State}, not Paused.");
        await vm.Process!.ExecuteAsync("cont", cancellationToken: cancellationToken).ConfigureAwait(false);
        vm.State = VmState.Running;
    }

    /// <summary>QMP <c>system_powerdown</c> (the ACPI power button), then <c>quit</c> once <paramref name="gracefulTimeout"/>
    /// has passed without QEMU exiting (a guest that ignores ACPI, like the boot-sector guest); QEMU exits when its guest
    /// powers off, which is how a graceful stop is told apart. The stopped VM is then removed from this host.</summary>
    public async Task<ShutdownResult> ShutdownVmAsync(string vmId, TimeSpan gracefulTimeout, CancellationToken cancellationToken = default)
    {
        await _adoption.Value.ConfigureAwait(false);
        var vm = Get(vmId);
        if (vm.State != VmState.Running || vm.Process is not { } process || vm.Outgoing is { State: not (OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed) })
            throw new InvalidOperationException($"VM '{vmId}' must be running with no migration in progress to shut down; it is {vm.State}.");
        var started = TimeProvider.GetTimestamp();
        var graceful = await process.PowerDownAsync(gracefulTimeout, cancellationToken).ConfigureAwait(false);
        var elapsed = TimeProvider.GetElapsedTime(started);
        await DestroyVmAsync(vmId, cancellationToken).ConfigureAwait(false);
        return new ShutdownResult(graceful, elapsed);
    }

    public async Task<IIncomingMigration> PrepareIncomingAsync(string vmId, IncomingMigrationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var vm = Get(vmId);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (vm.State != VmState.Created)
                throw new InvalidOperationException($"VM '{vmId}' is {vm.State}, not Created.");
            var process = await LaunchAsync(vm, incoming: true, cancellationToken).ConfigureAwait(false);
            vm.State = VmState.Incoming;
            try
            {
                await SetCapabilitiesAsync(process, autoConverge: false, options.MigrationChannels, options.PostCopy, cancellationToken, incoming: true).ConfigureAwait(false);
                var incoming = new QemuIncomingMigration(this, vm, process, options);
                vm.Incoming = incoming;
                var address = options.ListenAddress.Contains(':', StringComparison.Ordinal) ? $"[{options.ListenAddress}]" : options.ListenAddress;
                await process.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = $"tcp:{address}:{options.Port.ToString(CultureInfo.InvariantCulture)}" }, cancellationToken).ConfigureAwait(false);
                var port = await ListeningPortAsync(process, cancellationToken).ConfigureAwait(false);
                var host = options.AdvertisedHost ?? (options.ListenAddress is "0.0.0.0" or "::" ? "127.0.0.1" : options.ListenAddress);
                incoming.Endpoint = new MigrationEndpoint(host, port);
                return incoming;
            }
            catch
            {
                vm.State = VmState.Failed;
                await process.StopAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                throw;
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<IOutgoingMigration> StartOutgoingAsync(string vmId, MigrationEndpoint destination, MigrationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var vm = Get(vmId);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (vm.State != VmState.Running)
                throw new InvalidOperationException($"VM '{vmId}' is {vm.State}, not Running.");
            if (vm.Outgoing is { State: not (OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed) })
                throw new InvalidOperationException($"VM '{vmId}' is already migrating.");
            var process = vm.Process!;
            await SetCapabilitiesAsync(process, options.AutoConverge, options.MigrationChannels, options.PostCopy, cancellationToken).ConfigureAwait(false);
            var outgoing = new QemuOutgoingMigration(this, vm, process, destination, options);
            vm.Outgoing = outgoing;
            await outgoing.StartAsync(cancellationToken).ConfigureAwait(false);
            return outgoing;
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task DestroyVmAsync(string vmId, CancellationToken cancellationToken = default)
    {
        if (!_vms.TryGetValue(vmId, out var vm))
            return;
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (vm.Outgoing is { State: not (OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed) } outgoing && vm.Process is { Exited.IsCompleted: false })
            {
                try
                {
                    await outgoing.CancelAsync("VM destroyed", cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is QemuException or QmpConnectionException or QmpTimeoutException or QmpCommandException or MigrationFailedException)
                {
                    // It is being destroyed either way.
                }
            }

            if (vm.Incoming is { } incoming)
                await incoming.AbortAsync("VM destroyed", cancellationToken).ConfigureAwait(false);
            if (vm.Process is { } process)
            {
                await process.DisposeAsync().ConfigureAwait(false);
                DeleteStateFile(process.SocketPath);
            }

            _vms.TryRemove(vmId, out _);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// With <see cref="QemuDriverOptions.StopGuestsOnShutdown"/> every guest is stopped; otherwise migrations in flight
    /// are rolled back (outgoing cancelled, incoming torn down) and every other guest is left running for the next
    /// agent to adopt.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var (vmId, vm) in _vms.ToArray())
        {
            if (_options.StopGuestsOnShutdown || vm.Incoming is { Finished: false } || vm.State is VmState.Created or VmState.Incoming or VmState.Failed or VmState.PostMigrate or VmState.Lost)
            {
                await DestroyVmAsync(vmId).ConfigureAwait(false);
                continue;
            }

            if (vm.Outgoing is { State: not (OutgoingMigrationState.Completed or OutgoingMigrationState.Cancelled or OutgoingMigrationState.Failed) } outgoing)
            {
                try
                {
                    await outgoing.CancelAsync("the host agent is shutting down").ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is QemuException or QmpConnectionException or QmpTimeoutException or QmpCommandException or InvalidOperationException)
                {
                    // Left as it is; the next agent adopts what it finds.
                }
            }

            if (vm.Process is { } process)
                await process.DetachAsync().ConfigureAwait(false);
        }

        _vms.Clear();
        _lock.Dispose();
    }

    /// <summary>Kills the VM's QEMU with SIGKILL, as a crash would (fault tests). Returns false when none runs.</summary>
    public bool KillQemu(string vmId)
    {
        if (!_vms.TryGetValue(vmId, out var vm) || vm.Process is not { } process || process.Exited.IsCompleted)
            return false;
        process.Kill();
        return true;
    }

    /// <summary>The QEMU process id of the VM, or null.</summary>
    public int? ProcessId(string vmId) => _vms.TryGetValue(vmId, out var vm) && vm.Process is { Exited.IsCompleted: false } p ? p.ProcessId : null;

    /// <summary>The migration capabilities of one side, before <c>migrate</c> (source) or <c>migrate-incoming</c> (destination,
    /// still in <c>-incoming defer</c>). More than one channel turns on <c>multifd</c> with <c>multifd-channels</c>: QEMU needs
    /// both on both sides, with the same count, or the stream fails. <c>postcopy-ram</c> likewise: set on both sides, it only
    /// allows the switch (<c>migrate-start-postcopy</c>), which the source decides on later.</summary>
    private static async Task SetCapabilitiesAsync(QemuProcess process, bool autoConverge, int channels, bool postCopy, CancellationToken cancellationToken, bool incoming = false)
    {
        var caps = new JsonArray(
            new JsonObject { ["capability"] = "events", ["state"] = true },
            new JsonObject { ["capability"] = "pause-before-switchover", ["state"] = true },
            new JsonObject { ["capability"] = "auto-converge", ["state"] = autoConverge },
            new JsonObject { ["capability"] = "multifd", ["state"] = channels > 1 });
        if (postCopy)
            caps.Add(new JsonObject { ["capability"] = "postcopy-ram", ["state"] = true });

        // Destination: take the disk image (and its write lock) only on our `cont`, not when the stream completes.
        // Otherwise a roll back after the final copy cannot resume the source ("Failed to get shared "write" lock")
        // while the paused destination still lives.
        if (incoming)
            caps.Add(new JsonObject { ["capability"] = "late-block-activate", ["state"] = true });
        await process.ExecuteAsync("migrate-set-capabilities", new JsonObject { ["capabilities"] = caps }, cancellationToken).ConfigureAwait(false);
        if (channels > 1)
            await process.ExecuteAsync("migrate-set-parameters", new JsonObject { ["multifd-channels"] = channels }, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<int> ListeningPortAsync(QemuProcess process, CancellationToken cancellationToken)
    {
        var status = await process.ExecuteAsync("query-migrate", cancellationToken: cancellationToken).ConfigureAwait(false);
        if (status?["socket-address"] is JsonArray { Count: > 0 } addresses
            && addresses[0]?["port"]?.GetValue<string>() is { } text
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            return port;
        throw new QemuException($"QEMU did not report the port it listens on for the migration: {status?.ToJsonString()}");
    }

    private QemuVm Get(string vmId) =>
        _vms.TryGetValue(vmId, out var vm) ? vm : throw new VmNotFoundException(vmId);
}
