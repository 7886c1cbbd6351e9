using System.Collections.Immutable;
using OrleansMigrate.Agents;
using OrleansMigrate.Cluster;
using OrleansMigrate.Fleet;
using Spectre.Console;

namespace OrleansMigrate.Cli.Output;

/// <summary>Human tables for the CLI's records.</summary>
public static class Render
{
    public static Table Hosts(IEnumerable<HostRecord> hosts)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("HOST", "STATE", "HEALTH", "VCPUS", "MEMORY", "RESERVED", "VMS", "HW GEN", "FIRMWARE", "CPU");
        foreach (var h in hosts)
        {
            table.AddRow(
                Markup.Escape(h.HostId),
                Markup.Escape(h.Scheduling.ToString().ToLowerInvariant()),
                h.Health == HostHealth.Ok ? "[green]ok[/]" : $"[red]{h.Health.ToString().ToLowerInvariant()}[/]",
                $"{h.UsedVcpus}/{h.Spec.Cores}",
                $"{Gib(h.UsedMemoryMiB)}/{Gib(h.Spec.MemoryMiB)}",
                h.Reservations.Count == 0 ? "-" : $"{h.ReservedVcpus} vcpu, {Gib(h.ReservedMemoryMiB)}",
                h.Vms.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                h.Spec.HardwareGeneration.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Markup.Escape(h.Spec.FirmwareVersion),
                Markup.Escape(h.Spec.CpuModel));
        }

        return table;
    }

    public static Table Vms(IEnumerable<VmRecord> vms)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("VM", "HOST", "POWER", "VCPUS", "MEMORY", "CLASS", "DISKS", "NICS");
        foreach (var v in vms)
        {
            table.AddRow(
                Markup.Escape(v.VmId),
                Markup.Escape(v.HostId),
                Markup.Escape(v.Power.ToString().ToLowerInvariant()),
                v.Spec.Vcpus.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Gib(v.Spec.MemoryMiB),
                Markup.Escape(v.Spec.InstanceClass),
                $"{v.Spec.Disks.Length} ({v.Spec.Disks.Sum(d => d.SizeGiB)}G)",
                Markup.Escape(string.Join(", ", v.Spec.Nics.Select(n => $"{n.VpcId}/{n.Ip}"))));
        }

        return table;
    }

    public static Table Silos(ImmutableArray<SiloInfo> silos)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("SILO", "ADDRESS", "STATUS", "ROLES", "HOSTS SERVED");
        foreach (var s in silos)
        {
            table.AddRow(
                Markup.Escape(s.Name),
                Markup.Escape(s.Address),
                s.Status == "Active" ? "[green]active[/]" : Markup.Escape(s.Status.ToLowerInvariant()),
                Markup.Escape(string.Join(",", s.Roles)),
                Markup.Escape(s.Hosts.IsEmpty ? "-" : string.Join(",", s.Hosts)));
        }

        return table;
    }

    public static Table HostDetail(HostRecord h, HostAgentInfo? agent, string? agentError)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumns("", "");
        void Row(string k, string v) => table.AddRow(Markup.Escape(k), Markup.Escape(v));
        Row("host", h.HostId);
        Row("scheduling", h.Scheduling.ToString().ToLowerInvariant());
        Row("health", h.Health.ToString().ToLowerInvariant());
        Row("cores", $"{h.Spec.Cores} ({h.UsedVcpus} used, {h.ReservedVcpus} of them reserved)");
        Row("memory", $"{h.Spec.MemoryMiB} MiB ({h.UsedMemoryMiB} used, {h.ReservedMemoryMiB} of them reserved)");
        Row("cpu", $"{h.Spec.CpuModel}; {string.Join(",", h.Spec.CpuFeatures)}");
        Row("hardware generation", h.Spec.HardwareGeneration.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Row("firmware / kernel / hypervisor", $"{h.Spec.FirmwareVersion} / {h.Spec.KernelVersion} / {h.Spec.HypervisorVersion}");
        Row("labels", string.Join(", ", h.Spec.Labels.Select(kv => $"{kv.Key}={kv.Value}")));
        Row("vms", string.Join(", ", h.Vms.Keys.Order(StringComparer.Ordinal)));
        Row("reservations", string.Join(", ", h.Reservations.Select(r => $"{r.Key} ({r.Value.Vcpus} vcpu, {r.Value.MemoryMiB} MiB)")));
        Row("agent", agent is null ? $"unavailable: {agentError}" : $"silo {agent.SiloName} (pid {agent.ProcessId}), driver {agent.Driver}, running {agent.RunningVms.Length} VM(s)");
        return table;
    }

    public static Table VmDetail(VmRecord v, IEnumerable<CloudDiskRecord> disks)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumns("", "");
        void Row(string k, string value) => table.AddRow(Markup.Escape(k), Markup.Escape(value));
        Row("vm", v.VmId);
        Row("host", v.HostId);
        Row("power", v.Power.ToString().ToLowerInvariant());
        Row("vcpus / memory", $"{v.Spec.Vcpus} / {v.Spec.MemoryMiB} MiB");
        Row("class", v.Spec.InstanceClass);
        Row("required cpu features", string.Join(",", v.Spec.RequiredCpuFeatures));
        Row("labels", string.Join(", ", v.Spec.Labels.Select(kv => $"{kv.Key}={kv.Value}")));
        foreach (var d in disks)
        {
            Row($"disk {d.DiskId}", $"{d.SizeGiB} GiB, generation {d.FencingGeneration}, " +
                string.Join(", ", d.Attachments.Select(a => $"{a.Key}: {a.Value.Mode.ToString().ToLowerInvariant()}")));
        }

        foreach (var n in v.Spec.Nics)
        {
            Row("nic", $"{n.VpcId} {n.Ip} {n.Mac}");
        }

        foreach (var p in v.Spec.PassthroughDevices)
        {
            Row("passthrough", $"{p.Address} ({p.Kind}): live migration refused");
        }

        Row("created", v.CreatedAt.ToString("u", System.Globalization.CultureInfo.InvariantCulture));
        return table;
    }

    public static string Gib(long mib) => mib % 1024 == 0 ? $"{mib / 1024}G" : $"{mib / 1024.0:0.#}G";
}
