using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansMigrate.Api.Hosting;
using OrleansMigrate.Api.Security;
using OrleansMigrate.Cli.Demo;
using OrleansMigrate.Client;
using OrleansMigrate.Fleet;
using OrleansMigrate.Grains.Agents;
using OrleansMigrate.Grains.Cloud;
using OrleansMigrate.Grains.Migration;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Cli.Bench;

/// <summary>What <c>omig bench api</c> runs.</summary>
public sealed record ApiBenchmarkOptions(int Hosts, int VmsPerHost, int Clients, double DurationS);

/// <summary>The JSON report of <c>omig bench api</c>.</summary>
public sealed record ApiBenchmarkResult(
    [property: JsonPropertyName("hosts")] int Hosts,
    [property: JsonPropertyName("vms")] int Vms,
    [property: JsonPropertyName("clients")] int Clients,
    [property: JsonPropertyName("duration_s")] double DurationS,
    [property: JsonPropertyName("calls")] IReadOnlyList<ApiCallResult> Calls);

/// <summary>One call over one transport: requests made (errors included), errors, rate, and latency percentiles of all.</summary>
public sealed record ApiCallResult(
    [property: JsonPropertyName("call")] string Call,
    [property: JsonPropertyName("transport")] string Transport,
    [property: JsonPropertyName("requests")] long Requests,
    [property: JsonPropertyName("errors")] long Errors,
    [property: JsonPropertyName("requests_per_s")] double RequestsPerS,
    [property: JsonPropertyName("p50_ms")] double P50Ms,
    [property: JsonPropertyName("p99_ms")] double P99Ms);

/// <summary>
/// The HTTP API's cost: an embedded cluster with the analytic driver and a fleet of <c>hosts × vms-per-host</c>, the API
/// served on a loopback port exactly as <c>omig-silo --api-port</c> serves it (an operator key, so authentication runs), and
/// <c>clients</c> concurrent callers for <c>duration_s</c> per call: <c>get-vm</c>, <c>list-vms</c> (one page of 100),
/// <c>migrate</c> (POST, a different VM each time) — each over HTTP and through the same <see cref="OmigClient"/> the API
/// uses, so the difference is what HTTP, JSON and authentication add.
/// </summary>
public sealed class ApiBenchmark(ApiBenchmarkOptions options, Action<string> log)
{
    /// <summary>Seconds each call and transport runs unmeasured before its measured run (at most its duration).</summary>
    public const double WarmUpS = 3;

    public async Task<ApiBenchmarkResult> RunAsync(CancellationToken ct)
    {
        const double acceleration = 1000;
        await using var cluster = await EmbeddedCluster.StartAsync(0, ct, minimumLevel: Microsoft.Extensions.Logging.LogLevel.Error, configure: silo =>
        {
            silo.Services.PostConfigure<HostRuntimeOptions>(o =>
            {
                o.Driver = HypervisorKind.Analytic;
                o.VerifyConsistency = false;
                o.TimeAcceleration = acceleration;
            });
            silo.Services.AddSingleton(CloudBackendOptions.Scaled(1 / acceleration));
            silo.Services.Configure<MigrationAdmissionOptions>(o => o.MaxPerCluster = Math.Max(o.MaxPerCluster, 400));
        });
        var client = cluster.Client;
        var vms = await FleetAsync(client, ct);
        log($"fleet: {options.Hosts} hosts, {vms.Length} VMs");

        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
        await using var server = await OmigApiServer.StartAsync(cluster.Services.GetRequiredService<IGrainFactory>(), new OmigApiOptions
        {
            Port = 0,
            Keys = [new ApiKeyOptions { Name = "bench", Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))), Role = ApiRoles.Operator }],
        }, NullLoggerFactory.Instance, ct);
        var https = Enumerable.Range(0, options.Clients).Select(_ =>
        {
            var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return http;
        }).ToList();
        try
        {
            var nextVm = -1;
            string NextVm() => vms[(int)((uint)Interlocked.Increment(ref nextVm) % (uint)vms.Length)];
            var calls = new List<ApiCallResult>
            {
                await MeasureAsync("get-vm", "http", c => HttpOkAsync(https[c].GetAsync($"v1/vms/{NextVm()}", ct)), ct),
                await MeasureAsync("get-vm", "client", async _ => { await client.GetVmAsync(NextVm()); return true; }, ct),
                await MeasureAsync("list-vms", "http", c => HttpOkAsync(https[c].GetAsync("v1/vms?limit=100", ct)), ct),
                await MeasureAsync("list-vms", "client", async _ =>
                {
                    // What the API's handler does for one page: the index walked from the start, the first 100 + 1.
                    var page = 0;
                    await foreach (var vm in client.ReadVmsAsync(null, 101, ct))
                    {
                        if (++page > 100)
                        {
                            break;
                        }
                    }

                    return page > 0;
                }, ct),
                await MeasureAsync("migrate", "http", c => HttpOkAsync(https[c].PostAsync("v1/migrations",
                    new StringContent($"{{\"vm_id\":\"{NextVm()}\"}}", Encoding.UTF8, "application/json"), ct)), ct),
                await MeasureAsync("migrate", "client", async _ =>
                {
                    await client.MigrateAsync(new MigrationRequest(NextVm(), RequestedBy: "bench-api"));
                    return true;
                }, ct),
            };
            return new ApiBenchmarkResult(options.Hosts, vms.Length, options.Clients, options.DurationS, calls);
        }
        finally
        {
            https.ForEach(h => h.Dispose());
        }
    }

    private async Task<ImmutableArray<string>> FleetAsync(OmigClient client, CancellationToken ct)
    {
        for (var h = 0; h < options.Hosts; h++)
        {
            await client.AddHostAsync(new HostSpec($"h-{h:0000}", 64, 256 * 1024, "Xeon Platinum 8480", ["sse4_2", "avx", "avx2", "avx512f"], 4, "1.0.0", "6.1.0", "7.2.0",
                ImmutableDictionary<string, string>.Empty));
        }

        var total = options.Hosts * options.VmsPerHost;
        var next = -1;
        async Task CreateAsync()
        {
            while (Interlocked.Increment(ref next) is var i && i < total)
            {
                var id = $"v-{i:000000}";
                var ip = string.Create(CultureInfo.InvariantCulture, $"10.{(i / 62500) % 256}.{(i / 250) % 250}.{(i % 250) + 2}");
                var spec = new VmSpec(id, 2, 8192, [], "standard", ImmutableDictionary<string, string>.Empty, [new DiskSpec(id + "-root", 40)],
                    [new NicSpec($"vpc-{i % 100:000}", ip, Client.Parsing.CliParsers.DeriveMac(id, ip))], []);
                await client.CreateVmAsync(spec, $"h-{i % options.Hosts:0000}");
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(CreateAsync, ct)));
        return [.. Enumerable.Range(0, total).Select(i => $"v-{i:000000}")];
    }

    /// <summary>A 2xx answer, its body read to the end (as a real caller would).</summary>
    private static async Task<bool> HttpOkAsync(Task<HttpResponseMessage> call)
    {
        using var response = await call;
        await response.Content.ReadAsByteArrayAsync();
        return response.IsSuccessStatusCode;
    }

    /// <summary><see cref="ApiBenchmarkOptions.Clients"/> loops calling <paramref name="call"/> (with their index) for the
    /// duration; a call that throws or answers non-2xx is an error, and its latency counts like any other.</summary>
    private async Task<ApiCallResult> MeasureAsync(string name, string transport, Func<int, Task<bool>> call, CancellationToken ct)
    {
        // A warm-up that is not measured: connections, grain activations, and the JIT's tiering — on 2 cores, tier-1
        // compilation of the ASP.NET Core and Orleans paths runs for seconds after the first calls, so a few calls per
        // client (as before) left the first call measured, get-vm over HTTP, paying for it and the next one not.
        var warmUntil = Stopwatch.GetTimestamp() + (long)(Math.Min(WarmUpS, options.DurationS) * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(c => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < warmUntil && !ct.IsCancellationRequested)
            {
                try
                {
                    await call(c);
                }
                catch (Exception) when (!ct.IsCancellationRequested)
                {
                }
            }
        }, ct)));
        var deadline = Stopwatch.GetTimestamp() + (long)(options.DurationS * Stopwatch.Frequency);
        var clock = Stopwatch.StartNew();
        var perClient = await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(c => Task.Run(async () =>
        {
            var latencies = new List<double>(4096);
            long errors = 0;
            while (Stopwatch.GetTimestamp() < deadline && !ct.IsCancellationRequested)
            {
                var start = Stopwatch.GetTimestamp();
                bool ok;
                try
                {
                    ok = await call(c);
                }
                catch (Exception) when (!ct.IsCancellationRequested)
                {
                    ok = false;
                }

                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                errors += ok ? 0 : 1;
            }

            return (latencies, errors);
        }, ct)));
        var wall = clock.Elapsed.TotalSeconds;
        var all = perClient.SelectMany(p => p.latencies).ToArray();
        var errorCount = perClient.Sum(p => p.errors);
        var result = new ApiCallResult(name, transport, all.Length, errorCount, Math.Round(all.Length / wall, 1),
            all.Length == 0 ? 0 : Math.Round(Hypervisor.Bench.Percentiles.Of(all, 50), 3),
            all.Length == 0 ? 0 : Math.Round(Hypervisor.Bench.Percentiles.Of(all, 99), 3));
        log($"{name,-9} {transport,-6} {result.Requests,8} requests {result.Errors,6} errors {result.RequestsPerS,9:0.0}/s p50 {result.P50Ms:0.000} ms p99 {result.P99Ms:0.000} ms");
        return result;
    }
}
