using System.Runtime.CompilerServices;
using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;

namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// The inside of a simulated VM: memory as real bytes, the per-page generation vector and classes, the dirty
/// bitmap, the workload and session-churn threads and the gate that pauses them, the session table, and
/// device state. Knows nothing about migration or VM states.
/// </summary>
internal sealed class SimulatedGuest : IDisposable
{
    private readonly uint[] _generations;
    private readonly PageClass[] _classes;
    private readonly TimeProvider _time;
    private readonly string _name;
    private readonly int _vcpus;
    private readonly Lock _lock = new();
    private GuestWorkload? _workload;
    private SessionChurn? _churn;
    private SimulatedDeviceState? _received;
    private long _passBase;
    private bool _generationsAdopted;

    public SimulatedGuest(VmSpec spec, TimeProvider time)
    {
        Options = spec.Simulation ?? new SimulatedGuestOptions();
        Options.Validate(spec.MemoryMiB);
        _time = time;
        _name = spec.VmId;
        _vcpus = spec.VCpuCount;
        Memory = new GuestMemory((long)spec.MemoryMiB << 20);
        DirtyPages = new DirtyBitmap(Memory.PageCount);
        _generations = new uint[Memory.PageCount];
        // Touch it now: it is first read at pause (inside the downtime) for an idle guest, and first touch of
        // fresh memory is expensive on a virtualised host.
        _generations.AsSpan().Fill(0);
        _classes = new PageClass[Memory.PageCount];
        for (var i = 0; i < _classes.Length; i++)
            _classes[i] = PageContent.ClassOf(i, Options.Content, Options.Seed);
        DeviceStateBytes = SimulatedDeviceState.SizeFor(Options.DeviceStateBytes, spec.VCpuCount);
    }

    public SimulatedGuestOptions Options { get; }

    public GuestMemory Memory { get; }

    public DirtyBitmap DirtyPages { get; }

    public PauseGate Gate { get; } = new();

    public SessionTable Sessions { get; } = new();

    public int DeviceStateBytes { get; }

    /// <summary>Total page writes since first boot (the pass counter): equals the sum of the generation vector.</summary>
    public long PassCounter => _passBase + (_workload?.PageWrites ?? 0);

    /// <summary>
    /// Copies the generation vector (one counter per page, bumped by every write) without pausing the guest:
    /// reads race with writes, so the copy is a snapshot accurate to the writes in flight. Touches neither
    /// the gate nor the dirty bitmap, so a migration in progress is not disturbed.
    /// </summary>
    public void CopyGenerations(Span<uint> destination) => _generations.AsSpan().CopyTo(destination);

    /// <summary>First boot: every page at generation 0, boot-time sessions.</summary>
    public void Boot()
    {
        const int chunk = 4096;
        var chunks = (Memory.PageCount + chunk - 1) / chunk;
        Parallel.For(0, chunks, c =>
        {
            var end = Math.Min(Memory.PageCount, (c + 1) * chunk);
            for (var page = c * chunk; page < end; page++)
                PageContent.Fill(Memory.Page(page), page, 0, _classes[page], Options.Seed);
        });
        if (Options.Sessions is { } sessions)
        {
            _churn = new SessionChurn(Sessions, sessions, Gate, _time, Options.Seed, _name);
            _churn.Populate();
        }
    }

    /// <summary>Starts the workload and churn threads (once per guest life on a host).</summary>
    public void StartActivity()
    {
        lock (_lock)
        {
            if (_workload is not null)
                return;
            if (Options.Workload is { } workload && (workload.DirtyMegabytesPerSecond > 0 || workload.Surge is not null))
            {
                _workload = new GuestWorkload(Memory, _generations, _classes, DirtyPages, Gate, workload, _time, Options.Seed, _name);
                _workload.Start();
            }

            if (Options.Sessions is { } sessions)
            {
                _churn ??= new SessionChurn(Sessions, sessions, Gate, _time, Options.Seed ^ (ulong)PassCounter, _name);
                _churn.Start();
            }
        }
    }

    /// <summary>Stops the workload and churn threads for good.</summary>
    public void StopActivity()
    {
        lock (_lock)
        {
            _workload?.Dispose();
            _churn?.Dispose();
        }
    }

    /// <summary>Device state with the consistency manifest. Guest threads must be paused.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public byte[] CaptureDeviceState()
    {
        if (!Gate.IsPaused)
            throw new InvalidOperationException("Device state is captured with the guest paused.");
        var state = new SimulatedDeviceState(
            _vcpus,
            Memory.PageCount,
            Options.Seed,
            Options.Content,
            PassCounter,
            GuestVerifier.Sum(_generations),
            GuestVerifier.Digest(_generations),
            Sessions.ComputeDigest(),
            DeviceStateBytes);
        return state.Encode();
    }

    /// <summary>Stores the device state received from the source (checked as it decodes).</summary>
    public void RestoreDeviceState(ReadOnlySpan<byte> blob)
    {
        var state = SimulatedDeviceState.Decode(blob);
        if (state.PageCount != Memory.PageCount || state.Seed != Options.Seed || state.Content != Options.Content)
            throw new FrameFormatException("Device state describes a different guest (page count, seed or content mix).");
        lock (_lock)
            _received = state;
    }

    /// <summary>Checks memory and session table against the source's state at pause, and adopts the generations found.</summary>
    public ConsistencyReport VerifyReceived()
    {
        SimulatedDeviceState? manifest;
        lock (_lock)
            manifest = _received;
        Gate.Pause();
        try
        {
            var rebuilt = new uint[Memory.PageCount];
            var report = GuestVerifier.Verify(Memory, _classes, Options.Seed, manifest, [], Sessions, rebuilt);
            if (manifest is null)
                report = report with { Consistent = false, DeviceStateValid = false, Summary = "INCONSISTENT: no device state received" };
            Adopt(rebuilt, manifest);
            return report;
        }
        finally
        {
            Gate.Resume();
        }
    }

    /// <summary>After an incoming migration: continue from the generations found in memory.</summary>
    public void AdoptReceivedState()
    {
        lock (_lock)
        {
            if (_generationsAdopted)
                return;
        }

        var rebuilt = new uint[Memory.PageCount];
        Span<byte> scratch = stackalloc byte[GuestMemory.PageSize];
        for (var page = 0; page < rebuilt.Length; page++)
        {
            PageContent.Check(Memory.Page(page), page, _classes[page], Options.Seed, scratch, out var generation);
            rebuilt[page] = generation;
        }

        Adopt(rebuilt, _received);
    }

    /// <summary>Checks memory against this guest's own generation vector (pauses guest threads meanwhile).</summary>
    public ConsistencyReport VerifySelf()
    {
        Gate.Pause();
        try
        {
            var rebuilt = new uint[Memory.PageCount];
            var report = GuestVerifier.Verify(Memory, _classes, Options.Seed, manifest: null, _generations, sessions: null, rebuilt);
            var sumMatches = GuestVerifier.Sum(_generations) == (ulong)PassCounter;
            return sumMatches ? report : report with { Consistent = false, GenerationDigestMatches = false, Summary = report.Summary + "; pass counter differs from the generation sum" };
        }
        finally
        {
            Gate.Resume();
        }
    }

    public void Dispose()
    {
        StopActivity();
        Memory.Dispose();
        Gate.Dispose();
    }

    private void Adopt(uint[] rebuilt, SimulatedDeviceState? manifest)
    {
        lock (_lock)
        {
            if (_generationsAdopted)
                return;
            rebuilt.CopyTo(_generations, 0);
            _passBase = manifest?.PassCounter ?? (long)GuestVerifier.Sum(rebuilt);
            _generationsAdopted = true;
        }
    }
}
