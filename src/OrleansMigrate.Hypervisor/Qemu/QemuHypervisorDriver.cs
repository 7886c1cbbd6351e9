using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
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
    /// <summary>Pages per GiB QEMU hashes for <see cref="SampleDirtyRateAsync"/>: QEMU's maximum (its range is 128..4096, default 512).</summary>
    public const int DirtyRateSamplePagesPerGiB = 4096;

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
                await SetCapabilitiesAsync(process, autoConverge: false, cancellationToken, incoming: true).ConfigureAwait(false);
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
            await SetCapabilitiesAsync(process, options.AutoConverge, cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// QEMU's <c>calc-dirty-rate</c> in <c>page-sampling</c> mode (<see cref="DirtyRateSamplePagesPerGiB"/> pages per
    /// GiB hashed at the start and the end), then <c>query-dirty-rate</c> polled every 100 ms until <c>measured</c>.
    /// QEMU 7.2 measures whole seconds (<c>calc-time</c> ≥ 1), so the window is rounded up. Page sampling only
    /// hashes guest RAM, so it is safe while a migration runs (it does not touch the migration's dirty log);
    /// <c>dirty-bitmap</c> mode is not used because it hung QEMU 7.2 under TCG on this project's hosts. The
    /// reported rate is QEMU's MiB/s × 2^20; QEMU reports no working set, zero-page share or compression ratio.
    /// One measurement per driver at a time (QEMU keeps one global measurement state).
    /// </summary>
    /// <exception cref="TimeoutException">QEMU did not report <c>measured</c> within the window plus 10 s.</exception>
    public async Task<DirtyRateSample> SampleDirtyRateAsync(string vmId, TimeSpan window, CancellationToken cancellationToken = default)
    {
        if (window <= TimeSpan.Zero || window > TimeSpan.FromMinutes(1))
            throw new ArgumentOutOfRangeException(nameof(window), window, "The sampling window must be more than 0 and at most 1 minute.");
        var vm = Get(vmId);
        if (vm.State != VmState.Running)
            throw new InvalidOperationException($"VM '{vmId}' is {vm.State}; only a running VM has a dirty rate to sample.");
        if (vm.Process is not { } process || process.Exited.IsCompleted)
            throw new InvalidOperationException($"VM '{vmId}' has no running QEMU.");
        var calcSeconds = Math.Max(1, (int)Math.Ceiling(window.TotalSeconds - 1e-9));
        await _sampling.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var started = TimeProvider.GetTimestamp();
            await process.ExecuteAsync("calc-dirty-rate", new JsonObject
            {
                ["calc-time"] = calcSeconds,
                ["sample-pages"] = DirtyRateSamplePagesPerGiB,
                ["mode"] = "page-sampling",
            }, cancellationToken).ConfigureAwait(false);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(calcSeconds + 10));
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(calcSeconds), TimeProvider, deadline.Token).ConfigureAwait(false);
                while (true)
                {
                    var info = await process.ExecuteAsync("query-dirty-rate", cancellationToken: deadline.Token).ConfigureAwait(false);
                    if (info?["status"]?.GetValue<string>() == "measured")
                    {
                        var mibPerSecond = info["dirty-rate"]?.GetValue<long>() ?? 0;
                        var measuredSeconds = info["calc-time"]?.GetValue<long>() ?? calcSeconds;
                        var samples = info["sample-pages"]?.GetValue<long>() ?? DirtyRateSamplePagesPerGiB;
                        return new DirtyRateSample(
                            vmId,
                            DirtyRateMethods.QemuCalcDirtyRate,
                            mibPerSecond * (double)(1 << 20),
                            measuredSeconds * 1000.0,
                            (long)vm.Spec.MemoryMiB << 20,
                            DirtiedBytes: null,
                            WorkingSetBytes: null,
                            ZeroPageFraction: null,
                            CompressionRatio: null,
                            string.Create(CultureInfo.InvariantCulture,
                                $"calc-dirty-rate page-sampling, {samples} sample pages per GiB, calc-time {measuredSeconds} s: {mibPerSecond} MiB/s; wall {TimeProvider.GetElapsedTime(started).TotalMilliseconds:F0} ms"));
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider, deadline.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or QmpTimeoutException && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"QEMU did not finish measuring the dirty rate of '{vmId}' within {calcSeconds + 10} s.", ex);
            }
        }
        finally
        {
            _sampling.Release();
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
    /// Passes one QMP command (a JSON object with <c>execute</c> and optional <c>arguments</c>) to the VM's QEMU and
    /// returns QEMU's reply as JSON: <c>{"return": …}</c> or <c>{"error": {"class", "desc"}}</c>. Only commands on
    /// the allow-list pass (<see cref="QmpAllowList"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The text is not a single QMP command, or the command is not allowed.</exception>
    public bool SupportsPassthrough => true;

    public async Task<string> PassthroughAsync(string vmId, string commandJson, CancellationToken cancellationToken = default)
    {
        var (command, arguments) = QmpAllowList.Parse(commandJson, _options);
        var vm = Get(vmId);
        if (vm.Process is not { } process || process.Exited.IsCompleted)
            throw new InvalidOperationException($"VM '{vmId}' has no running QEMU ({vm.Info().Detail ?? vm.State.ToString()}).");
        try
        {
            var result = await process.ExecuteAsync(command, arguments, cancellationToken).ConfigureAwait(false);
            return new JsonObject { ["return"] = result?.DeepClone() ?? new JsonObject() }.ToJsonString();
        }
        catch (QmpCommandException ex)
        {
            return new JsonObject { ["error"] = new JsonObject { ["class"] = ex.ErrorClass, ["desc"] = ex.Description } }.ToJsonString();
        }
    }

    /// <summary>
    /// Checks a running <see cref="DirtyGuest"/>: pauses it, reads its header and region with <c>pmemsave</c> into
    /// the runtime directory, resumes it, and verifies the snapshot. Null when the guest is not ours (no magic).
    /// </summary>
    public async Task<(ConsistencyReport Report, DirtyGuest.Header Header)?> CheckDirtyGuestAsync(string vmId, CancellationToken cancellationToken = default)
    {
        var vm = Get(vmId);
        if (vm.Process is not { } process || process.Exited.IsCompleted)
            throw new InvalidOperationException($"VM '{vmId}' has no running QEMU.");
        return await CheckDirtyGuestAsync(process, cancellationToken).ConfigureAwait(false);
    }

    internal async Task<(ConsistencyReport Report, DirtyGuest.Header Header)?> CheckDirtyGuestAsync(QemuProcess process, CancellationToken cancellationToken)
    {
        // Unique across drivers: two drivers of one process may share the runtime directory (and their sequences).
        var dumpPath = Path.Combine(RuntimeDirectory(), $"dump-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}.bin");

        // One check at a time per QEMU: a second one could `cont` the guest while the first still reads it.
        await process.GuestCheckLock.WaitAsync(cancellationToken).ConfigureAwait(false);

        // Ask QEMU, not RunState: the STOP/RESUME events of our own last stop/cont may still be in the pump. The
        // guest is stopped unconditionally (a no-op when paused) and resumed only if it ran.
        var status = await process.ExecuteAsync("query-status", cancellationToken: cancellationToken).ConfigureAwait(false);
        var wasRunning = status?["running"]?.GetValue<bool>() == true;
        try
        {
            await process.ExecuteAsync("stop", cancellationToken: cancellationToken).ConfigureAwait(false);
            var stopped = (await process.ExecuteAsync("query-status", cancellationToken: cancellationToken).ConfigureAwait(false))?["running"]?.GetValue<bool>();
            if (stopped != false)
                throw new QemuException("the guest check could not stop the guest (query-status still reports it running)");

            // Header, region, header again: equal headers prove the snapshot was taken of a guest standing still.
            var header = await ReadHeaderAsync(process, dumpPath, cancellationToken).ConfigureAwait(false);
            if (header is null)
                return null;
            await PmemSaveAsync(process, header.Base, header.RegionBytes, dumpPath, cancellationToken).ConfigureAwait(false);
            var region = await File.ReadAllBytesAsync(dumpPath, cancellationToken).ConfigureAwait(false);
            var after = await ReadHeaderAsync(process, dumpPath, cancellationToken).ConfigureAwait(false);
            if (after != header)
                throw new QemuException($"the guest moved during its check (position {header.Position} then {after?.Position}): not a snapshot");
            return (DirtyGuest.Verify(header, region), header);
        }
        finally
        {
            try
            {
                if (wasRunning && !process.Exited.IsCompleted)
                    await process.ExecuteAsync("cont", cancellationToken: CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                File.Delete(dumpPath);
                process.GuestCheckLock.Release();
            }
        }
    }

    private static async Task<DirtyGuest.Header?> ReadHeaderAsync(QemuProcess process, string dumpPath, CancellationToken cancellationToken)
    {
        await PmemSaveAsync(process, DirtyGuest.HeaderAddress, DirtyGuest.HeaderBytes, dumpPath, cancellationToken).ConfigureAwait(false);
        return DirtyGuest.ReadHeader(await File.ReadAllBytesAsync(dumpPath, cancellationToken).ConfigureAwait(false));
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

    internal static async Task PmemSaveAsync(QemuProcess process, long address, long size, string path, CancellationToken cancellationToken) =>
        await process.ExecuteAsync("pmemsave", new JsonObject { ["val"] = address, ["size"] = size, ["filename"] = path }, cancellationToken).ConfigureAwait(false);

    private static async Task SetCapabilitiesAsync(QemuProcess process, bool autoConverge, CancellationToken cancellationToken, bool incoming = false)
    {
        var caps = new JsonArray(
            new JsonObject { ["capability"] = "events", ["state"] = true },
            new JsonObject { ["capability"] = "pause-before-switchover", ["state"] = true },
            new JsonObject { ["capability"] = "auto-converge", ["state"] = autoConverge });

        // Destination: take the disk image (and its write lock) only on our `cont`, not when the stream completes.
        // Otherwise a roll back after the final copy cannot resume the source ("Failed to get shared "write" lock")
        // while the paused destination still lives.
        if (incoming)
            caps.Add(new JsonObject { ["capability"] = "late-block-activate", ["state"] = true });
        await process.ExecuteAsync("migrate-set-capabilities", new JsonObject { ["capabilities"] = caps }, cancellationToken).ConfigureAwait(false);
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

    private async Task<QemuProcess> LaunchAsync(QemuVm vm, bool incoming, CancellationToken cancellationToken)
    {
        var spec = vm.Spec;
        var guest = spec.Qemu!;
        var image = CheckImage(guest.ImagePath);
        var (devices, serial) = GuestDeviceArguments(guest);
        var accelerator = await AcceleratorTask.ConfigureAwait(false);
        var arguments = new List<string>
        {
            // debug-threads: QEMU names its threads ("CPU 0/KVM", "migration"), so top and the pinning tests can tell them apart.
            "-name", $"guest={SafeName(spec.VmId)},debug-threads=on",
            "-machine", $"{guest.MachineType ?? _options.MachineType},accel={accelerator.Accelerator}",
            "-m", spec.MemoryMiB.ToString(CultureInfo.InvariantCulture),
            "-smp", spec.VCpuCount.ToString(CultureInfo.InvariantCulture),
            "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", serial, "-monitor", "none", "-parallel", "none",

            // JSON syntax: the path is a JSON string, so no character in it can inject another option.
            "-blockdev", new JsonObject { ["driver"] = "raw", ["node-name"] = "disk0", ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = image } }.ToJsonString(),
            "-device", guest.Linux is null ? "ide-hd,drive=disk0,bootindex=0" : "ide-hd,drive=disk0",

            // Always start stopped: capabilities are set before a vCPU runs, and an incoming guest runs only on our `cont`.
            "-S",
        };
        arguments.AddRange(devices);
        if (guest.NbdDisk is { } nbd)
            arguments.AddRange(nbd.Arguments());
        if (incoming)
            arguments.AddRange(["-incoming", "defer"]);

        var socket = Path.Combine(RuntimeDirectory(), SocketName(spec.VmId));
        var process = await QemuProcess.StartAsync(_options.Binary, arguments, socket,
            TimeSpan.FromMilliseconds(_options.StartTimeoutMs), TimeSpan.FromMilliseconds(_options.CommandTimeoutMs),
            _options.ProcessPriority switch { "high" => -11, "above-normal" => -5, _ => 0 }, cancellationToken).ConfigureAwait(false);
        vm.Accelerator = accelerator.Accelerator;
        try
        {
            await PinAsync(process, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        vm.Attach(process);
        if (!incoming)
            await WriteStateFileAsync(vm, process).ConfigureAwait(false);
        return process;
    }

    /// <summary>Pins the new QEMU's threads (<see cref="QemuDriverOptions.EmulatorCpus"/> for all of them first, then
    /// <see cref="QemuDriverOptions.VcpuCpus"/> for each vCPU thread QEMU names in <c>query-cpus-fast</c>); threads QEMU
    /// starts later (the migration thread) inherit the emulator set from its main thread.</summary>
    private async Task PinAsync(QemuProcess process, CancellationToken cancellationToken)
    {
        if (_options.EmulatorCpus is { } emulator)
            CpuSet.Parse(emulator, "Qemu:EmulatorCpus").PinProcess(process.ProcessId);
        if (_options.VcpuCpus is not { } vcpus)
            return;
        var set = CpuSet.Parse(vcpus, "Qemu:VcpuCpus");
        var reply = await process.ExecuteAsync("query-cpus-fast", cancellationToken: cancellationToken).ConfigureAwait(false);
        var threads = (reply as JsonArray ?? []).Select(c => c?["thread-id"]?.GetValue<long>()).OfType<long>().Distinct().ToList();
        if (threads.Count == 0)
            throw new QemuException("query-cpus-fast named no vCPU thread to pin");
        foreach (var tid in threads)
            set.PinThread((int)tid);
    }

    /// <summary>Records a running guest next to its socket (mode 0600) so that a later agent can adopt it.</summary>
    internal static async Task WriteStateFileAsync(QemuVm vm, QemuProcess process)
    {
        var state = new JsonObject
        {
            ["host"] = vm.HostId,
            ["vm"] = vm.Spec.VmId,
            ["pid"] = process.ProcessId,
            ["socket"] = process.SocketPath,
            ["memory_mib"] = vm.Spec.MemoryMiB,
            ["vcpus"] = vm.Spec.VCpuCount,
            ["image"] = vm.Spec.Qemu!.ImagePath,
            ["machine"] = vm.Spec.Qemu.MachineType,
            ["devices"] = GuestDevicesToJson(vm.Spec.Qemu),
        };
        var path = Path.ChangeExtension(process.SocketPath, ".vm.json");
        var temp = path + ".tmp";
        await File.WriteAllTextAsync(temp, state.ToJsonString()).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    private static void DeleteStateFile(string socketPath)
    {
        try
        {
            File.Delete(Path.ChangeExtension(socketPath, ".vm.json"));
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// Adopts the guests an earlier agent of this host left running: for each state file of this host whose QEMU still
    /// runs with that socket, reconnects and takes the run state from <c>query-status</c>. A guest half-way through an
    /// incoming migration is stopped (its migration is gone with the old agent; the orchestrator rolls it back); a
    /// source stopped for a switchover is adopted paused, for the orchestrator to resume or complete.
    /// </summary>
    private async Task AdoptAsync()
    {
        if (!Directory.Exists(_options.RuntimeDirectory))
            return;
        foreach (var file in Directory.EnumerateFiles(_options.RuntimeDirectory, "*.vm.json"))
        {
            JsonNode? state;
            try
            {
                state = JsonNode.Parse(await File.ReadAllTextAsync(file).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
            {
                continue;
            }

            if (state?["host"]?.GetValue<string>() != HostId || state["vm"]?.GetValue<string>() is not { } vmId || _vms.ContainsKey(vmId))
                continue;
            var socket = state["socket"]?.GetValue<string>() ?? string.Empty;
            var pid = state["pid"]?.GetValue<int>() ?? 0;
            var process = pid > 0 && socket.Length > 0
                ? await QemuProcess.AttachAsync(pid, socket, TimeSpan.FromMilliseconds(_options.CommandTimeoutMs), CancellationToken.None).ConfigureAwait(false)
                : null;
            if (process is null)
            {
                File.Delete(file);
                continue;
            }

            string? status;
            try
            {
                status = (await process.ExecuteAsync("query-status").ConfigureAwait(false))?["status"]?.GetValue<string>();
            }
            catch (Exception ex) when (ex is QemuException or QmpConnectionException or QmpTimeoutException or QmpCommandException)
            {
                await process.DetachAsync().ConfigureAwait(false);
                continue;
            }

            var spec = new VmSpec
            {
                VmId = vmId,
                MemoryMiB = state["memory_mib"]?.GetValue<int>() ?? 0,
                VCpuCount = state["vcpus"]?.GetValue<int>() ?? 1,
                Qemu = WithGuestDevices(new QemuGuest { ImagePath = state["image"]?.GetValue<string>() ?? string.Empty, MachineType = state["machine"]?.GetValue<string>() }, state["devices"]),
            };
            var vm = new QemuVm(spec) { HostId = HostId };
            if (status is "inmigrate" or "prelaunch")
            {
                await process.StopAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                await process.DisposeAsync().ConfigureAwait(false);
                File.Delete(file);
                continue;
            }

            vm.Attach(process);
            vm.State = status == "running" ? VmState.Running : VmState.Paused;
            _vms[vmId] = vm;
            AdoptedVms++;
        }
    }

    private string RuntimeDirectory()
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (OperatingSystem.IsWindows())
            throw new PlatformNotSupportedException("the QEMU driver runs on Linux");
        var dir = Directory.CreateDirectory(_options.RuntimeDirectory, Private);
        File.SetUnixFileMode(dir.FullName, Private);
        return dir.FullName;
    }

    private string SocketName(string vmId)
    {
        var key = $"{HostId}/{vmId}/{Environment.ProcessId}/{Interlocked.Increment(ref _sequence)}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..20] + ".qmp";
    }

    /// <summary>Resolves the image (following symbolic links) and checks it is a regular file inside a configured image directory.</summary>
    private string CheckImage(string path)
    {
        if (string.IsNullOrWhiteSpace(path) || !Path.IsPathFullyQualified(path))
            throw new ArgumentException($"image path must be absolute, was '{path}'.", nameof(path));
        if (_options.ImageDirectories.Count == 0)
            throw new ArgumentException("no image directories are configured on this host (Qemu:ImageDirectories): no image may be used.", nameof(path));
        // Confinement first, and one answer for a path outside whether or not it exists: the answer must not tell a
        // caller which files exist elsewhere on the host. Every component is resolved, not only the last: a linked
        // directory inside an image directory may point anywhere.
        var resolved = RealPath(path);
        var confined = _options.ImageDirectories.Any(dir =>
            resolved.StartsWith(Path.TrimEndingDirectorySeparator(RealPath(dir)) + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        if (!confined)
            throw new ArgumentException($"image '{path}' is outside the configured image directories ({string.Join(", ", _options.ImageDirectories)}).", nameof(path));
        if (!File.Exists(resolved))
            throw new ArgumentException($"image '{path}' does not exist on host {HostId}.", nameof(path));
        return resolved;
    }

    /// <summary>The path with symbolic links resolved in every component, as realpath(3) does (Linux paths).</summary>
    private static string RealPath(string path)
    {
        var pending = new Stack<string>();
        Push(path);
        var current = "/";
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part == ".")
                continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }

            var next = Path.Join(current, part);
            if (new FileInfo(next).LinkTarget is { } target)
            {
                if (++links > 40)
                    throw new ArgumentException($"image path '{path}' has too many levels of symbolic links.", nameof(path));
                if (Path.IsPathRooted(target))
                    current = "/";
                Push(target);
                continue;
            }

            current = next;
        }

        return current;

        void Push(string p)
        {
            foreach (var component in p.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
                pending.Push(component);
        }
    }

    private static string SafeName(string vmId) =>
        new([.. vmId.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' ? c : '_')]);
}
