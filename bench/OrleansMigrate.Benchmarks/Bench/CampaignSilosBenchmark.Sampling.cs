using System.Globalization;
using OrleansMigrate.Client;
using OrleansMigrate.Operations;

namespace OrleansMigrate.Cli.Bench;

/// <summary>The silo sampling and killing: Orleans' activation counts per silo every ~2 s, and the SIGKILL of one control silo.</summary>
public sealed partial class CampaignSilosBenchmark
{
    /// <summary>SIGKILLs one control silo (<see cref="CampaignSilosOptions.Kill"/>, by the latest sample: the one holding
    /// the campaign grain, the busiest, or the one named), and does not start it again.</summary>
    private async Task<KilledSilo> KillOneAsync(OmigClient client, CampaignStatus campaign, TimeSpan at, CancellationToken ct)
    {
        await SampleOnceAsync(client, ct);
        var last = _last;
        int Count(string silo, string kind) => last.GetValueOrDefault((silo, kind));
        int All(string silo) => last.Where(l => l.Key.Silo == silo).Sum(l => l.Value);
        var controls = _silos.Where(s => s.Role == "control" && !s.HasExited).ToList();
        SiloChildProcess? target;
        string reason;
        switch (options.Kill)
        {
            case "campaign":
                target = controls.FirstOrDefault(s => Count(s.Name, GrainKinds.Campaign) > 0);
                reason = "it holds the campaign grain";
                break;
            case "busiest":
                target = controls.OrderByDescending(s => All(s.Name)).First();
                reason = $"it holds the most control-plane activations ({All(target.Name)})";
                break;
            default:
                target = controls.FirstOrDefault(s => s.Name == options.Kill)
                    ?? throw new InvalidOperationException($"no running control silo named '{options.Kill}' (silos: {string.Join(", ", controls.Select(c => c.Name))})");
                reason = "named by --kill-silo";
                break;
        }

        if (target is null)
        {
            target = controls.OrderByDescending(s => Count(s.Name, GrainKinds.Drain) + Count(s.Name, GrainKinds.Migration)).First();
            reason = "it holds the most drain and migration grains (the campaign grain was not seen)";
        }

        _killDone = true;
        target.Kill();
        var killed = new KilledSilo(target.Name, target.Pid, Math.Round(at.TotalSeconds, 1), campaign.HostsUpgraded, campaign.MigrationsCompleted, reason,
            DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        log($"{at.TotalSeconds,5:0} s: SIGKILL control silo {target.Name} (pid {target.Pid}; {reason}) with {campaign.HostsUpgraded}/{campaign.Hosts.Length} hosts upgraded, "
            + $"{campaign.MigrationsCompleted} migrations done; it is not restarted");
        return killed;
    }

    private async Task SampleLoopAsync(OmigClient client, CancellationToken ct)
    {
        // Bounded: at most one sample per interval for the campaign's limit, and it stops when the campaign has ended.
        var rounds = (int)((options.CampaignLimit ?? TimeSpan.FromMinutes(60)) / SampleInterval) + 10;
        for (var i = 0; i < rounds && !ct.IsCancellationRequested; i++)
        {
            await SampleOnceAsync(client, ct);
            try
            {
                await Task.Delay(SampleInterval, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private readonly SemaphoreSlim _sampleGate = new(1, 1);

    /// <summary>One sample of Orleans' activation counts per silo and grain type.</summary>
    private async Task SampleOnceAsync(OmigClient client, CancellationToken ct)
    {
        try
        {
            await _sampleGate.WaitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        try
        {
            var stats = await client.Grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics().WaitAsync(SampleLimit, ct);
            var byPort = _silos.ToDictionary(s => s.SiloPort);
            var sample = new Dictionary<(string Silo, string Kind), int>();
            foreach (var s in stats)
            {
                if (GrainKinds.Of(s.GrainType) is not { } kind)
                {
                    continue;
                }

                var silo = byPort.TryGetValue(s.SiloAddress.Endpoint.Port, out var child) ? child.Name : s.SiloAddress.ToString();
                sample[(silo, kind)] = sample.GetValueOrDefault((silo, kind)) + s.ActivationCount;
            }

            foreach (var (key, count) in sample)
            {
                _max.AddOrUpdate(key, count, (_, old) => Math.Max(old, count));
                if (!_killDone)
                {
                    _maxBeforeKill.AddOrUpdate(key, count, (_, old) => Math.Max(old, count));
                }
            }

            _last = sample;
            Interlocked.Increment(ref _samples);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The run is over.
        }
        catch (Exception ex) when (IsTransient(ex) || ex is OperationCanceledException)
        {
            // A silo just killed and not yet declared dead: the next sample asks again.
            Interlocked.Increment(ref _sampleFailures);
        }
        finally
        {
            _sampleGate.Release();
        }
    }
}
