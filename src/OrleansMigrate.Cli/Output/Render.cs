using System.Collections.Immutable;
using OrleansMigrate.Agents;
using OrleansMigrate.Cluster;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;
using Spectre.Console;

namespace OrleansMigrate.Cli.Output;

/// <summary>Human tables for the CLI's records.</summary>
public static class Render
{
    /// <param name="silos">The live silos: with them, an AGENT column says which silo runs each host's agent, or that
    /// none does (the registry's HEALTH alone would say <c>ok</c> for a host nobody serves).</param>
    public static Table Hosts(IEnumerable<HostRecord> hosts, IReadOnlyList<SiloInfo>? silos = null)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("HOST", "STATE", "POWER", "HEALTH");
        if (silos is not null)
        {
            table.AddColumn("AGENT");
        }

        table.AddColumns("VCPUS", "MEMORY", "RESERVED", "VMS", "HW GEN", "FIRMWARE", "CPU");
        foreach (var h in hosts)
        {
            var cells = new List<string>
            {
                Markup.Escape(h.HostId),
                Markup.Escape(Naming.EnumNames.Of(h.Scheduling)),
                h.Power == HostPowerState.On ? "on" : "[grey]off[/]",
                h.Health == HostHealth.Ok ? "[green]ok[/]" : $"[red]{Naming.EnumNames.Of(h.Health)}[/]",
            };
            if (silos is not null)
            {
                var silo = HostAgents.SiloOf(h.HostId, silos);
                cells.Add(silo is null ? $"[red]{Markup.Escape(HostAgents.Describe(null))}[/]" : Markup.Escape(silo));
            }

            cells.AddRange([
                $"{h.UsedVcpus}/{h.Spec.Cores}",
                $"{Gib(h.UsedMemoryMiB)}/{Gib(h.Spec.MemoryMiB)}",
                h.Reservations.Count == 0 ? "-" : $"{h.ReservedVcpus} vcpu, {Gib(h.ReservedMemoryMiB)}",
                h.Vms.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                h.Spec.HardwareGeneration.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Markup.Escape(h.Spec.FirmwareVersion),
                Markup.Escape(h.Spec.CpuModel),
            ]);
            table.AddRow(cells.ToArray());
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
                v.Power == PowerState.Unknown ? "[yellow]unknown[/]" : Markup.Escape(Naming.EnumNames.Of(v.Power)),
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
        Row("scheduling", Naming.EnumNames.Of(h.Scheduling));
        Row("power", Naming.EnumNames.Of(h.Power) + (h.PowerChangedAt is { } at ? $" since {at:u}" : ""));
        Row("health", Naming.EnumNames.Of(h.Health));
        Row("cores", $"{h.Spec.Cores} ({h.UsedVcpus} used, {h.ReservedVcpus} of them reserved)");
        Row("memory", $"{h.Spec.MemoryMiB} MiB ({h.UsedMemoryMiB} used, {h.ReservedMemoryMiB} of them reserved)");
        Row("cpu", $"{h.Spec.CpuModel}; {string.Join(",", h.Spec.CpuFeatures)}");
        Row("hardware generation", h.Spec.HardwareGeneration.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Row("firmware / kernel / hypervisor", $"{h.Spec.FirmwareVersion} / {h.Spec.KernelVersion} / {h.Spec.HypervisorVersion}");
        Row("labels", string.Join(", ", h.Spec.Labels.Select(kv => $"{kv.Key}={kv.Value}")));
        Row("devices", h.Spec.Devices.IsEmpty ? "none" : string.Join(", ", h.Spec.Devices.Select(d =>
            $"{d} ({h.UsedDevices(d.Key)} held, {h.FreeDevices(d.Key)} free)")));
        Row("vms", string.Join(", ", h.Vms.Keys.Order(StringComparer.Ordinal)));
        Row("reservations", string.Join(", ", h.Reservations.Select(r => $"{r.Key} ({r.Value.Vcpus} vcpu, {r.Value.MemoryMiB} MiB)")));
        Row("agent", agent is null ? $"unavailable: {agentError}" : $"silo {agent.SiloName} (pid {agent.ProcessId}), driver {agent.Driver}, running {agent.RunningVms.Length} VM(s)");
        return table;
    }

    public static Table VmDetail(VmRecord v, IEnumerable<CloudDiskRecord> disks, Client.VmHypervisorView? hypervisor = null)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumns("", "");
        void Row(string k, string value) => table.AddRow(Markup.Escape(k), Markup.Escape(value));
        Row("vm", v.VmId);
        Row("host", v.HostId);
        Row("power", Naming.EnumNames.Of(v.Power) + (v.PowerDetail is { } why ? $": {why}" : ""));
        Row("vcpus / memory", $"{v.Spec.Vcpus} / {v.Spec.MemoryMiB} MiB");
        Row("class", v.Spec.InstanceClass);
        Row("required cpu features", string.Join(",", v.Spec.RequiredCpuFeatures));
        Row("labels", string.Join(", ", v.Spec.Labels.Select(kv => $"{kv.Key}={kv.Value}")));
        if (v.Spec.Image is { } image)
        {
            Row("image", image);
        }

        if (hypervisor is not null)
        {
            Row("hypervisor", $"{hypervisor.Driver}: {hypervisor.State ?? "no instance"}{(hypervisor.Detail is { } d ? $" ({d})" : string.Empty)}");
        }
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

        foreach (var d in v.Spec.Devices)
        {
            Row("device", $"{d}: {DeviceRule(d.Kind)}");
        }

        Row("created", v.CreatedAt.ToString("u", System.Globalization.CultureInfo.InvariantCulture));
        return table;
    }

    private static string DeviceRule(DeviceKind kind) => kind switch
    {
        DeviceKind.Vf => "unplugged before a live move, plugged on the destination after",
        DeviceKind.Vgpu => "moves live only between QEMU 8.1+ hosts (switchover-ack)",
        _ => "pass-through: needs a cold move",
    };

    public static Table Migrations(IEnumerable<Migration.MigrationStatus> migrations)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("MIGRATION", "VM", "FROM", "TO", "MODE", "PHASE", "DOWNTIME", "TOTAL", "FAILURE");
        foreach (var m in migrations)
        {
            table.AddRow(
                Markup.Escape(m.MigrationId),
                Markup.Escape(m.Request.VmId),
                Markup.Escape(m.SourceHost),
                Markup.Escape(m.DestinationHost),
                m.Request.Cold ? "cold" : Naming.EnumNames.Of(m.Request.Mode),
                PhaseMarkup(m.Phase) + (m.AgentWait is { } w && !m.IsEnded ? $" [yellow](waiting for {Markup.Escape(w.HostId)}'s agent)[/]" : ""),
                m.Downtime is { } d ? $"{d.DowntimeMs:0.0} ms" : "-",
                m.TotalMs is { } t ? $"{t / 1000:0.00} s" : "-",
                Markup.Escape(m.Failure ?? ""));
        }

        return table;
    }

    public static Grid MigrationReport(Migration.MigrationStatus m)
    {
        var grid = new Grid().AddColumn();
        grid.AddRow(Migrations([m]));
        var timeline = new Table().Border(TableBorder.Rounded).AddColumns("PHASE", "STARTED", "DURATION");
        foreach (var span in m.Timeline)
        {
            timeline.AddRow(PhaseMarkup(span.Phase), span.StartedAt.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture),
                span.EndedAt is { } end ? $"{(end - span.StartedAt).TotalMilliseconds:0.0} ms" : "…");
        }

        grid.AddRow(timeline);
        if (m.QueuedReason is { } queued && m.Phase == Migration.MigrationPhase.Queued)
        {
            grid.AddRow(new Markup($"[yellow]queued:[/] {Markup.Escape(queued)}"));
        }

        if (m.SwitchoverReason is { } why)
        {
            grid.AddRow(new Markup($"switchover reason: {Markup.Escape(why)}"));
        }

        if (m.AgentWait is { } w)
        {
            var wait = new Table().Border(TableBorder.Rounded)
                .AddColumns(m.IsEnded ? "GAVE UP WAITING FOR A HOST AGENT" : "[yellow]WAITING FOR A HOST AGENT[/]", "");
            void WaitRow(string k, string v) => wait.AddRow(Markup.Escape(k), Markup.Escape(v));
            var now = DateTimeOffset.UtcNow;
            WaitRow("host", $"{w.HostId} ({w.Role}){(w.Silo is { } silo ? $", {silo}" : "")}");
            WaitRow("step", w.Step);
            WaitRow("unreachable since", w.Since.ToString("u", System.Globalization.CultureInfo.InvariantCulture)
                + (m.IsEnded ? "" : $" ({Elapsed(now - w.Since)})"));
            WaitRow("gives up at", w.Deadline is { } end
                ? end.ToString("u", System.Globalization.CultureInfo.InvariantCulture) + (m.IsEnded ? "" : $" (in {Elapsed(end - now)})")
                : "never: committed, it rolls forward once the agent answers");
            WaitRow("tries", $"{w.Tries}, last at {w.LastTriedAt.ToString("u", System.Globalization.CultureInfo.InvariantCulture)}");
            WaitRow("why", w.Reason);
            grid.AddRow(wait);
        }

        if (m.Cold is { } cold)
        {
            var c = new Table().Border(TableBorder.Rounded).AddColumns("COLD MOVE", "");
            c.AddRow("VM", cold.WasRunning ? "was running: shut down on the source, started on the destination" : "was stopped: handed over, stays stopped");
            c.AddRow("owner notified", cold.OwnerNotified ? "yes" : "not yet");
            if (cold.WasRunning)
            {
                c.AddRow("shutdown", cold.Graceful is { } g
                    ? (g ? "graceful (the guest powered off)" : "hard stop (the guest did not power off within the timeout)") + (cold.ShutdownMs is { } sm ? $" after {sm:0.0} ms" : "")
                    : "not yet");
                c.AddRow("graceful timeout", $"{cold.ShutdownTimeoutMs:0} ms");
                c.AddRow("[bold]downtime (stopped → running)[/]", cold.DowntimeMs is { } dm ? $"[bold]{dm:0.0} ms[/]" : "-");
            }

            grid.AddRow(c);
        }

        if (m.Downtime is { } d && m.Cold is null)
        {
            var breakdown = new Table().Border(TableBorder.Rounded).AddColumns("INSIDE THE DOWNTIME", "MS");
            breakdown.AddRow("[bold]downtime (source pause → destination resume)[/]", $"[bold]{d.DowntimeMs:0.00}[/]");
            breakdown.AddRow("data plane (pause until the destination acknowledged the last page)", $"{d.DataPlaneMs:0.00}");
            foreach (var (step, ms) in d.Steps.OrderByDescending(kv => kv.Value))
            {
                breakdown.AddRow(Markup.Escape(step), $"{ms:0.00}");
            }

            if (d.FinalPages > 0 || d.FinalBytes > 0)
            {
                // QEMU does not itemise its final copy: its figures are in the hypervisor's own report below.
                breakdown.AddRow("stop-and-copy payload", $"{d.FinalPages} pages, {d.FinalBytes} bytes on the wire ({d.CompressedBytes} compressed), {d.SessionDeltaEntries} session entries");
            }

            if (d.CriticalPathCalls > 0)
            {
                breakdown.AddRow("grain calls between pause and resume", $"{d.CriticalPathCalls}");
            }

            grid.AddRow(breakdown);
            if (!d.Timeline.IsDefaultOrEmpty)
            {
                // One clock: QEMU's own STOP/RESUME timestamps and the hosts' clocks, in ms from the source's pause.
                var steps = new Table().Border(TableBorder.Rounded).AddColumns("SWITCHOVER TIMELINE (ms from the pause)", "HOST", "START", "END");
                foreach (var t in d.Timeline)
                {
                    steps.AddRow(Markup.Escape(t.Step), Markup.Escape(t.Host), $"{t.StartMs:0.00}", t.EndMs > t.StartMs ? $"{t.EndMs:0.00}" : "");
                }

                grid.AddRow(steps);
            }
        }

        if (m.Hypervisor is { } h)
        {
            var hv = new Table().Border(TableBorder.Rounded).AddColumns($"{h.Driver.ToUpperInvariant()} REPORTS", "");
            static string Ms(double? v) => v is { } x ? $"{x:0.##} ms" : "-";
            hv.AddRow("downtime", Ms(h.DowntimeMs));
            hv.AddRow("total / setup", $"{Ms(h.TotalMs)} / {Ms(h.SetupMs)}");
            hv.AddRow("transferred", $"{h.TransferredBytes / 1048576.0:0.0} MiB at {h.ThroughputBytesPerSecond / 1e6:0.0} MB/s");
            hv.AddRow("dirty syncs / dirty rate", $"{h.DirtySyncCount} / {(h.DirtyRateBytesPerSecond > 0 ? $"{h.DirtyRateBytesPerSecond / 1e6:0.0} MB/s" : DirtyRateNotMeasured(h.Driver))}");
            if (h.PauseHoldMs is { } hold)
            {
                hv.AddRow("pre-switchover hold / device stage", $"{hold:0.00} ms / {Ms(h.DeviceStageMs)}");
            }
            if (h.CpuThrottlePercent > 0)
            {
                hv.AddRow("auto-converge throttle", $"{h.CpuThrottlePercent} %");
            }

            if (h.MigrationChannels is { } channels)
            {
                hv.AddRow("migration channels", Commands.PolicyCommands.Channels(channels));
            }

            if (h.PostCopyMs is { } postCopy)
            {
                hv.AddRow("post-copy", h.PostCopyFailure is { } lost ? $"[red]FAILED after {postCopy:0} ms: {Markup.Escape(lost)}[/]" : $"{postCopy:0} ms (destination ran while the source sent the rest)");
            }

            grid.AddRow(hv);
        }

        if (m.GuestCheck is { } check)
        {
            var verdict = check.Verdict switch
            {
                GuestCheckVerdict.Consistent => "[green]consistent[/]",
                GuestCheckVerdict.Inconsistent => "[red]INCONSISTENT[/]",
                _ => "[yellow]not checked[/]",
            };
            grid.AddRow(new Markup($"destination guest check: {verdict} — {Markup.Escape(check.Detail)}"));
        }

        return grid;
    }

    /// <summary>Why a hypervisor report has no dirty rate, in the terms of the driver that wrote it.</summary>
    public static string DirtyRateNotMeasured(string driver) =>
        driver.Equals("qemu", StringComparison.OrdinalIgnoreCase)
            ? "not measured (QEMU measures it once per second of pre-copy)"
            : $"0 (the {driver} engine measured no dirtying in its last pre-copy round)";

    private static string PhaseMarkup(Migration.MigrationPhase phase) => phase switch
    {
        Migration.MigrationPhase.Completed => "[green]completed[/]",
        Migration.MigrationPhase.RolledBack => "[yellow]rolled_back[/]",
        Migration.MigrationPhase.Failed => "[red]failed[/]",
        _ => PhaseName(phase),
    };

    /// <summary>A phase as users see it everywhere: <c>rolling_back</c>, the same as in the JSON.</summary>
    public static string PhaseName(Migration.MigrationPhase phase) => Naming.EnumNames.Of(phase);

    public static Spectre.Console.Rendering.IRenderable Preflight(Migration.PreflightReport r)
    {
        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow("VM", Markup.Escape($"{r.VmId} on {r.SourceHost}, policy {r.Policy} (target {r.DowntimeTargetMs:0.#} ms, link {r.LinkBandwidthBytesPerSecond * 8 / 1e9:0.##} Gb/s)"));
        if (r.Prediction is { } p)
        {
            grid.AddRow("dirty rate", Markup.Escape($"{p.DirtyBytesPerSecond / 1e6:0.##} MB/s over {p.SampleWindowMs:0} ms ({p.Method})"));
            grid.AddRow("memory", Markup.Escape(PreflightMemory(r.VmMemoryMiB, p.MemoryBytes)));
            grid.AddRow("predicted", Markup.Escape($"{p.Outcome}: {p.Rounds} round(s), total {p.TotalMs:0} ms, downtime {p.DowntimeMs:0.##} ms, {p.BytesSent / 1e6:0.#} MB sent; "
                + $"converges without throttling: {(p.ConvergesWithoutThrottling ? "yes" : "no")}"));
            grid.AddRow("why", Markup.Escape(p.Reason));
        }
        else
        {
            grid.AddRow("predicted", Markup.Escape(r.PredictionError ?? "-"));
        }

        grid.AddRow("verdict", (r.Go ? "[green]" : "[red]") + Markup.Escape(r.Verdict) + "[/]");
        var table = new Table().Border(TableBorder.Rounded).AddColumns("DESTINATION", "OK", "REASON");
        foreach (var c in r.Candidates)
        {
            table.AddRow(Markup.Escape(c.HostId), c.Allowed ? "[green]yes[/]" : "[red]no[/]", Markup.Escape(c.Reason ?? (c.HostId == r.Destination ? "chosen: most free memory" : "")));
        }

        return new Rows(grid, table);
    }

    /// <summary>The VM's memory; the sampled memory beside it only when it differs (a simulated guest's smaller backing).</summary>
    public static string PreflightMemory(long vmMemoryMiB, long sampledBytes)
    {
        var sampledMiB = sampledBytes / (1024.0 * 1024);
        if (vmMemoryMiB <= 0)
        {
            return $"{Gib((long)Math.Round(sampledMiB))} (as sampled)";
        }

        return Math.Abs(sampledMiB - vmMemoryMiB) < 1
            ? Gib(vmMemoryMiB)
            : $"{Gib(vmMemoryMiB)} (the prediction sampled {sampledMiB:0.#} MiB of backing memory)";
    }

    /// <summary>"45 s", "4 min 15 s", "2 h 5 min".</summary>
    public static string Elapsed(TimeSpan t)
    {
        var s = (long)Math.Max(0, Math.Round(t.TotalSeconds));
        return s < 60 ? $"{s} s" : s < 3600 ? $"{s / 60} min {s % 60} s" : $"{s / 3600} h {s % 3600 / 60} min";
    }

    public static string Gib(long mib) => mib % 1024 == 0 ? $"{mib / 1024}G" : $"{mib / 1024.0:0.#}G";
}
