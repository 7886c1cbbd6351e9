using System.Collections.Immutable;
using OrleansMigrate.Client.Parsing;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Api.Resources;

/// <summary>POST /v1/hosts. Optional fields take the CLI's defaults (<c>omig host add</c>).</summary>
public sealed record HostCreate(
    string HostId,
    int Cores,
    long MemoryMib,
    string? CpuModel = null,
    ImmutableArray<string>? CpuFeatures = null,
    int? HardwareGeneration = null,
    string? FirmwareVersion = null,
    string? KernelVersion = null,
    string? HypervisorVersion = null,
    ImmutableDictionary<string, string>? Labels = null)
{
    public HostSpec ToSpec() => new(HostId, Cores, MemoryMib, CpuModel ?? "generic-x86-64", CpuFeatures ?? [], HardwareGeneration ?? 1,
        FirmwareVersion ?? "1.0.0", KernelVersion ?? "6.1.0", HypervisorVersion ?? "7.2.0", Labels ?? ImmutableDictionary<string, string>.Empty);
}

/// <summary>POST /v1/vms: the VM and the host it is placed on.</summary>
public sealed record VmCreate(
    string VmId,
    string HostId,
    int Vcpus,
    long MemoryMib,
    ImmutableArray<string>? RequiredCpuFeatures = null,
    string? InstanceClass = null,
    ImmutableDictionary<string, string>? Labels = null,
    ImmutableArray<DiskCreate>? Disks = null,
    ImmutableArray<NicCreate>? Nics = null,
    ImmutableArray<PassthroughCreate>? PassthroughDevices = null,
    string? Image = null)
{
    /// <summary>A NIC without a MAC gets the CLI's derived one (stable per VM and IP). A null in a list is refused by name.</summary>
    public VmSpec ToSpec()
    {
        RequireNoNull("disks", Disks);
        RequireNoNull("nics", Nics);
        RequireNoNull("passthrough_devices", PassthroughDevices);
        return Spec();
    }

    private static void RequireNoNull<T>(string field, ImmutableArray<T>? items)
        where T : class
    {
        if (items is { } list && list.IndexOf(null!) is var i and >= 0)
        {
            throw OmigException.Invalid($"{field}[{i}]", "must be an object, not null");
        }
    }

    private VmSpec Spec() => new(VmId, Vcpus, MemoryMib, RequiredCpuFeatures ?? [], InstanceClass ?? "standard",
        Labels ?? ImmutableDictionary<string, string>.Empty,
        [.. (Disks ?? []).Select(d => new DiskSpec(d.DiskId, d.SizeGib))],
        [.. (Nics ?? []).Select(n => new NicSpec(n.VpcId, n.Ip, n.Mac ?? CliParsers.DeriveMac(VmId, n.Ip)))],
        [.. (PassthroughDevices ?? []).Select(p => new PassthroughDevice(p.Address, p.Kind))], Image);
}

public sealed record DiskCreate(string DiskId, long SizeGib);

public sealed record NicCreate(string VpcId, string Ip, string? Mac = null);

/// <summary>A PCI device handed to the guest: such a VM is created, but never live-migrated (409 with the reason).</summary>
public sealed record PassthroughCreate(string Address, string Kind);

/// <summary>POST /v1/migrations. <c>destination_host</c> null lets placement choose; <c>cold</c> true moves the VM cold
/// (shut down, handed over, started on the destination: for a VM that cannot move live, when its policy allows it).</summary>
public sealed record MigrationCreate(
    string VmId,
    string? DestinationHost = null,
    string? Policy = null,
    OrchestrationMode? Mode = null,
    bool Cold = false);

/// <summary>A page of a list: <c>next</c> is the opaque token for the following page, null on the last.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? Next);
