using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Connections.Security;
using OrleansMigrate.Agents;
using OrleansMigrate.Audit;
using OrleansMigrate.Cluster;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;
using OrleansMigrate.Migration;

namespace OrleansMigrate.Client;

/// <summary>
/// The typed client that cloud API services embed. Validates requests before sending them (the grains
/// validate again), and turns grain errors into <see cref="OmigException"/> with the field and reason.
/// </summary>
public sealed class OmigClient : IAsyncDisposable
{
    private readonly IHost? _host;

    /// <summary>Wraps a grain factory the caller already has (an in-process silo, a test cluster).</summary>
    public OmigClient(IGrainFactory grains)
    {
        Grains = grains;
    }

    private OmigClient(IHost host)
    {
        _host = host;
        Grains = host.Services.GetRequiredService<IClusterClient>();
    }

    public IGrainFactory Grains { get; }

    private IFleetGrain Fleet => Grains.GetGrain<IFleetGrain>(IFleetGrain.Key);

    /// <summary>Connects to a running cluster; throws <see cref="OmigException"/> (Unavailable) when no gateway answers.</summary>
    public static async Task<OmigClient> ConnectAsync(OmigClientOptions options, CancellationToken cancellationToken = default)
    {
        // Refuse unreadable TLS files here, naming the setting, rather than as a connection failure.
        if (options.Tls.ClientTlsOn && options.Tls.Check(certificateRequired: false) is [var (key, reason), ..])
        {
            throw OmigException.Invalid(key switch
            {
                nameof(Security.OmigTlsOptions.Certificate) => "tls_cert",
                nameof(Security.OmigTlsOptions.KeyFile) => "tls_key",
                nameof(Security.OmigTlsOptions.CaCertificate) => "tls_ca",
                _ => "tls_password",
            }, reason);
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(client =>
        {
            client.AddActivityPropagation();
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ServiceId;
            });
            if (options.PostgresConnectionString is { Length: > 0 } cs)
            {
                client.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = cs;
                });
            }
            else
            {
                client.UseLocalhostClustering([.. options.GatewayPorts], options.ServiceId, options.ClusterId);
            }

            if (options.Tls.ClientTlsOn)
            {
                UseMutualTls(client, options.Tls);
            }
        });
        var host = builder.Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        try
        {
            await host.StartAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            var where = options.PostgresConnectionString is { Length: > 0 }
                ? "the gateways listed in PostgreSQL"
                : $"localhost gateway port(s) {string.Join(",", options.GatewayPorts)}";
            throw new OmigException(OmigErrorCode.Unavailable, null, $"cannot connect to the cluster at {where}: {ex.GetBaseException().Message}{await ConnectHintAsync(options)}");
        }

        return new OmigClient(host);
    }

    /// <summary>
    /// Why a connection may have failed, found out rather than guessed (Orleans reports only a timeout): are any of the
    /// cluster's gateways listed and listening, and do they speak TLS? A hint about TLS only where TLS can be the cause.
    /// </summary>
    private static async Task<string> ConnectHintAsync(OmigClientOptions options)
    {
        List<System.Net.IPEndPoint> gateways;
        try
        {
            gateways = options.PostgresConnectionString is { Length: > 0 } cs
                ? await ListedGatewaysAsync(cs, options.ClusterId)
                : [.. options.GatewayPorts.Select(p => new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, p))];
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or IOException or InvalidOperationException)
        {
            return string.Empty;
        }

        if (gateways.Count == 0)
        {
            return $" (no silo of cluster '{options.ClusterId}' is listed as active: is the cluster running, with this cluster id?)";
        }

        var answers = (await Task.WhenAll(gateways.Take(3).Select(SpeaksTlsAsync))).Where(a => a is not null).ToList();
        if (answers.Count == 0)
        {
            return " (no silo answered at its gateway: is the cluster running?)";
        }

        var tls = answers.Any(a => a == true);
        if (!options.Tls.ClientTlsOn)
        {
            return tls ? " (the gateways run mutual TLS: connect with --tls-ca and --tls-cert, the cluster's CA and a certificate it issued)" : string.Empty;
        }

        if (!tls)
        {
            return " (TLS: the gateways do not run TLS; connect without the --tls-… settings)";
        }

        return string.IsNullOrWhiteSpace(options.Tls.Certificate)
            ? " (TLS: the cluster runs mutual TLS and needs a client certificate, --tls-cert)"
            : " (TLS: the gateways refused this client's certificate, or this client refused theirs: both must be issued by the CA given with --tls-ca)";
    }

    private static async Task<List<System.Net.IPEndPoint>> ListedGatewaysAsync(string connectionString, string clusterId)
    {
        var csb = new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Timeout = 5, CommandTimeout = 5, Pooling = false };
        await using var connection = new Npgsql.NpgsqlConnection(csb.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT address, proxy_port FROM orleans_membership WHERE deployment_id = @id AND status = 3 AND proxy_port > 0";
        command.Parameters.AddWithValue("id", clusterId);
        var endpoints = new List<System.Net.IPEndPoint>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            if (System.Net.IPAddress.TryParse(reader.GetString(0), out var address))
            {
                endpoints.Add(new System.Net.IPEndPoint(address, reader.GetInt32(1)));
            }
        }

        return endpoints;
    }

    /// <summary>True: the endpoint answers a TLS handshake; false: it listens but does not speak TLS; null: nothing listens.</summary>
    private static async Task<bool?> SpeaksTlsAsync(System.Net.IPEndPoint endpoint)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        using var tcp = new System.Net.Sockets.TcpClient(endpoint.AddressFamily);
        try
        {
            await tcp.ConnectAsync(endpoint, cts.Token);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return null;
        }

        await using var ssl = new System.Net.Security.SslStream(tcp.GetStream());
        try
        {
            await ssl.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = endpoint.Address.ToString(),
                RemoteCertificateValidationCallback = (_, _, _, _) => true, // only whether it speaks TLS is asked here
            }, cts.Token);
            return true;
        }
        catch (System.Security.Authentication.AuthenticationException ex) when (ex.Message.Contains("alert", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>TLS on every gateway connection: the gateway's certificate must chain to the configured CA; this
    /// client presents its own certificate when it has one (a mutual-TLS silo refuses a client without).</summary>
    private static void UseMutualTls(IClientBuilder client, Security.OmigTlsOptions tls)
    {
        var certificate = string.IsNullOrWhiteSpace(tls.Certificate) ? null : tls.LoadCertificate();
        var trusted = Security.TlsPeerValidation.For(tls.LoadCa());
        client.UseTls(o =>
        {
            o.LocalCertificate = certificate;
            o.ClientCertificateMode = certificate is null ? RemoteCertificateMode.NoCertificate : RemoteCertificateMode.RequireCertificate;
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.CheckCertificateRevocation = false;
            o.RemoteCertificateValidation = (cert, chain, errors) => trusted(cert, chain, errors);
        });
    }

    public Task<HostRecord> AddHostAsync(HostSpec spec)
    {
        FleetValidation.ValidateHost(spec);
        return Fleet.AddHostAsync(spec);
    }

    public Task<ImmutableArray<HostRecord>> ListHostsAsync() => Fleet.ListHostsAsync();

    public async Task<HostRecord> GetHostAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await Grains.GetGrain<IHostGrain>(hostId).GetAsync()
            ?? throw OmigException.NotFound("host", $"host '{hostId}' is not registered");
    }

    public async Task<HostRecord> CordonHostAsync(string hostId)
    {
        await GetHostAsync(hostId);
        return await Grains.GetGrain<IHostGrain>(hostId).SetSchedulingAsync(SchedulingState.Cordoned);
    }

    /// <summary>Lets new VMs onto a host again; refused while a drain of it runs (abort it first).</summary>
    public async Task<HostRecord> UncordonHostAsync(string hostId)
    {
        await GetHostAsync(hostId);
        if (await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).GetAsync() is { IsEnded: false })
        {
            throw OmigException.Conflict("host", $"host '{hostId}' is being drained: abort the drain first (omig host drain {hostId} --abort)");
        }

        return await Grains.GetGrain<IHostGrain>(hostId).SetSchedulingAsync(SchedulingState.Schedulable);
    }

    /// <summary>Cordons the host and migrates every VM away (or returns the drain already running).</summary>
    public async Task<Operations.DrainStatus> DrainHostAsync(string hostId, Operations.DrainOptions? options = null)
    {
        await GetHostAsync(hostId);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).StartAsync(options ?? new Operations.DrainOptions());
    }

    /// <summary>The current or last drain of the host; NotFound when it was never drained.</summary>
    public async Task<Operations.DrainStatus> GetDrainAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).GetAsync()
            ?? throw OmigException.NotFound("drain", $"host '{hostId}' has never been drained");
    }

    /// <summary>The current or last drain of the host, or null when it was never drained.</summary>
    public async Task<Operations.DrainStatus?> GetDrainOrNullAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).GetAsync();
    }

    /// <summary>The host's earlier drains, newest first (empty when it was drained at most once).</summary>
    public async Task<ImmutableArray<Operations.DrainStatus>> GetDrainHistoryAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).GetHistoryAsync();
    }

    /// <summary>Starts a rolling firmware-upgrade campaign; the id is generated (camp-…) unless given.</summary>
    public async Task<Operations.CampaignStatus> StartCampaignAsync(Operations.CampaignSpec spec, string? campaignId = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var id = campaignId ?? "camp-" + Guid.NewGuid().ToString("N")[..10];
        FleetValidation.RequireId("campaign", id);
        return await Grains.GetGrain<Operations.ICampaignGrain>(id).StartAsync(spec);
    }

    public async Task<Operations.CampaignStatus> GetCampaignAsync(string campaignId)
    {
        FleetValidation.RequireId("campaign", campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).GetAsync()
            ?? throw OmigException.NotFound("campaign", $"campaign '{campaignId}' does not exist");
    }

    /// <summary>The drains and campaigns running now (a drain's id is its host's).</summary>
    public Task<ImmutableArray<Operations.FleetOperationRef>> ListRunningOperationsAsync() =>
        Grains.GetGrain<Operations.IRunningOperationsGrain>(Operations.IRunningOperationsGrain.Key).ListAsync();

    /// <summary>Unlists an operation found ended whose own unlisting failed; nothing when it runs (its grain decides).</summary>
    public Task PruneRunningOperationAsync(Operations.FleetOperationRef operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        return operation.Kind == Operations.FleetOperationKind.Drain
            ? Grains.GetGrain<Operations.IHostDrainGrain>(operation.Id).UnlistIfEndedAsync()
            : Grains.GetGrain<Operations.ICampaignGrain>(operation.Id).UnlistIfEndedAsync();
    }

    /// <summary>A campaign's counts and hosts in progress, without its whole host list.</summary>
    public async Task<Operations.CampaignSummary> GetCampaignSummaryAsync(string campaignId)
    {
        FleetValidation.RequireId("campaign", campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).GetSummaryAsync()
            ?? throw OmigException.NotFound("campaign", $"campaign '{campaignId}' does not exist");
    }

    public async Task<ImmutableArray<Operations.CampaignStatus>> ListCampaignsAsync()
    {
        var ids = await Grains.GetGrain<Operations.ICampaignDirectoryGrain>(Operations.ICampaignDirectoryGrain.Key).ListAsync();
        var all = await Task.WhenAll(ids.Select(id => Grains.GetGrain<Operations.ICampaignGrain>(id).GetAsync()));
        return [.. all.OfType<Operations.CampaignStatus>().OrderBy(c => c.CreatedAt)];
    }

    public async Task<Operations.CampaignStatus> PauseCampaignAsync(string campaignId, string reason)
    {
        FleetValidation.RequireId("campaign", campaignId);
        RequireReason(reason);
        await GetCampaignAsync(campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).PauseAsync(reason);
    }

    public async Task<Operations.CampaignStatus> ResumeCampaignAsync(string campaignId)
    {
        await GetCampaignAsync(campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).ResumeAsync();
    }

    /// <summary>Cancels: hosts not started are skipped, drains in progress aborted (their hosts back in service).</summary>
    public async Task<Operations.CampaignStatus> CancelCampaignAsync(string campaignId, string reason)
    {
        FleetValidation.RequireId("campaign", campaignId);
        RequireReason(reason);
        await GetCampaignAsync(campaignId);
        return await Grains.GetGrain<Operations.ICampaignGrain>(campaignId).CancelAsync(reason);
    }

    private static void RequireReason(string reason)
    {
        if (string.IsNullOrWhiteSpace(reason) || reason.Length > 500)
        {
            throw OmigException.Invalid("reason", "must be 1-500 characters");
        }
    }

    /// <summary>Stops a drain: queued migrations cancelled, running ones finish or roll back; the host stays cordoned.</summary>
    public async Task<Operations.DrainStatus> AbortDrainAsync(string hostId, string reason)
    {
        FleetValidation.RequireId("host", hostId);
        RequireReason(reason);
        return await Grains.GetGrain<Operations.IHostDrainGrain>(hostId).AbortAsync(reason);
    }

    public Task RemoveHostAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return Fleet.RemoveHostAsync(hostId);
    }

    /// <summary>What the host's agent reports; fails with Unavailable when no live silo serves the host.</summary>
    public async Task<HostAgentInfo> GetHostAgentAsync(string hostId)
    {
        FleetValidation.RequireId("host", hostId);
        return await AgentAsync(hostId, a => a.GetInfoAsync());
    }

    public Task<VmRecord> CreateVmAsync(VmSpec spec, string hostId)
    {
        FleetValidation.ValidateVm(spec);
        FleetValidation.RequireId("host", hostId);
        return Fleet.CreateVmAsync(spec, hostId);
    }

    public Task<ImmutableArray<VmRecord>> ListVmsAsync() => Fleet.ListVmsAsync();

    /// <summary>
    /// Every VM whose id sorts (ordinally) after <paramref name="after"/>, in ordinal id order, read <paramref name="batch"/>
    /// at a time: each step asks every index shard for its next <paramref name="batch"/> ids, merges them, and reads only
    /// the first <paramref name="batch"/> records. Unlike <see cref="ListVmsAsync"/> it never holds the fleet in memory, so
    /// an API page of 100 VMs out of 200,000 costs one step. A VM deleted between the index read and its record read is
    /// skipped.
    /// </summary>
    public async IAsyncEnumerable<VmRecord> ReadVmsAsync(string? after, int batch, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (batch is < 1 or > VmIndexShards.MaxPage)
        {
            throw OmigException.Invalid("limit", $"must be between 1 and {VmIndexShards.MaxPage}, got {batch}");
        }

        var shards = Enumerable.Range(0, VmIndexShards.Count).Select(i => Grains.GetGrain<IVmIndexGrain>(VmIndexShards.Key(i))).ToArray();
        for (var cursor = after; ;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var from = cursor;
            var pages = await Task.WhenAll(shards.Select(s => s.ListAfterAsync(from, batch)));

            // The first `batch` ids of the union of every shard's first `batch` are the fleet's first `batch` after the cursor.
            var ids = pages.SelectMany(p => p).Order(StringComparer.Ordinal).Take(batch).ToArray();
            if (ids.Length == 0)
            {
                yield break;
            }

            var records = await Task.WhenAll(ids.Select(id => Grains.GetGrain<IVmGrain>(id).GetAsync()));
            foreach (var record in records)
            {
                if (record is not null)
                {
                    yield return record;
                }
            }

            if (ids.Length < batch)
            {
                yield break;
            }

            cursor = ids[^1];
        }
    }

    public async Task<VmRecord> GetVmAsync(string vmId)
    {
        FleetValidation.RequireId("vm", vmId);
        return await Grains.GetGrain<IVmGrain>(vmId).GetAsync()
            ?? throw OmigException.NotFound("vm", $"VM '{vmId}' does not exist");
    }

    /// <summary>What the VM's host hypervisor says about it now: its state (<c>running</c>, <c>paused</c>, <c>lost</c>…, null when
    /// the hypervisor has no instance) and detail (QEMU: pid and run status, or how it died).</summary>
    public async Task<VmHypervisorView> GetVmHypervisorAsync(string vmId)
    {
        var vm = await GetVmAsync(vmId);
        return await AgentAsync(vm.HostId, async agent =>
        {
            var info = await agent.GetInfoAsync();
            var state = await agent.GetVmStateAsync(vmId);
            return new VmHypervisorView(vm.HostId, info.Driver, state is { } s ? Naming.EnumNames.Of(s) : null, await agent.GetVmDetailAsync(vmId));
        });
    }

    /// <summary>
    /// Passes one QMP command (JSON text, <c>{"execute": …, "arguments": {…}}</c>) to the VM's QEMU through the host
    /// agent that owns the monitor socket, and returns QEMU's reply as JSON. Only allow-listed commands pass.
    /// </summary>
    public const int MaxQmpCommandBytes = 16 * 1024;

    public async Task<string> QmpAsync(string vmId, string commandJson)
    {
        ArgumentNullException.ThrowIfNull(commandJson);
        if (commandJson.Length > MaxQmpCommandBytes)
        {
            throw OmigException.Invalid("command", $"the QMP command is over {MaxQmpCommandBytes} bytes");
        }

        var vm = await GetVmAsync(vmId);
        return await AgentAsync(vm.HostId, a => a.QmpAsync(vmId, commandJson));
    }

    /// <summary>A call to a host's agent; an agent that cannot be reached fails with Unavailable (field <c>host</c>) in our
    /// words (<see cref="AgentErrors"/>), never with Orleans' own message.</summary>
    private async Task<T> AgentAsync<T>(string hostId, Func<IHostAgentGrain, Task<T>> call)
    {
        try
        {
            return await call(Grains.GetGrain<IHostAgentGrain>(hostId));
        }
        catch (Exception ex) when (AgentErrors.IsUnreachable(ex) && ex is not OmigException)
        {
            throw AgentErrors.Unreachable(hostId, ex);
        }
    }

    /// <summary>
    /// Boots a VM that is <c>lost</c> (its hypervisor process died) or stopped, on the host the registry places it
    /// on, and records it running; for a VM left <c>unknown</c> by an unreachable agent, records it running once the
    /// agent answers (booting it only if the hypervisor has no instance). Refused while a migration of the VM is in
    /// flight, or when it runs already.
    /// </summary>
    public async Task<VmRecord> StartVmAsync(string vmId)
    {
        var vm = await GetVmAsync(vmId);
        if (vm.Power == PowerState.Running)
        {
            throw OmigException.Conflict("vm", $"VM '{vmId}' is running on '{vm.HostId}'");
        }

        if ((await ListMigrationsAsync(includeEnded: false)).FirstOrDefault(m => m.Request.VmId == vmId) is { } active)
        {
            throw OmigException.Conflict("vm", $"VM '{vmId}' has migration {active.MigrationId} in flight ({Naming.EnumNames.Of(active.Phase)})");
        }

        await AgentAsync(vm.HostId, async a =>
        {
            await a.StartVmAsync(vm.Spec);
            return true;
        });
        return await Grains.GetGrain<IVmGrain>(vmId).SetPowerAsync(PowerState.Running);
    }

    public Task DeleteVmAsync(string vmId)
    {
        FleetValidation.RequireId("vm", vmId);
        return Fleet.DeleteVmAsync(vmId);
    }

    public Task<CloudDiskRecord?> GetDiskAsync(string diskId)
    {
        FleetValidation.RequireId("disk", diskId);
        return Grains.GetGrain<ICloudDiskGrain>(diskId).GetAsync();
    }

    public Task<VpcFlowTable> GetVpcAsync(string vpcId)
    {
        FleetValidation.RequireId("vpc", vpcId);
        return Grains.GetGrain<IVpcFlowTableGrain>(vpcId).GetAsync();
    }

    /// <summary>Starts a live migration (queued when admission limits are reached); returns its first status.</summary>
    public Task<MigrationStatus> MigrateAsync(MigrationRequest request)
    {
        FleetValidation.RequireId("vm", request.VmId);
        if (request.DestinationHost is not null)
        {
            FleetValidation.RequireId("to", request.DestinationHost);
        }

        return SchedulerShards.SubmitAsync(Grains, request);
    }

    /// <summary>Plans the fewest migrations that make room for <paramref name="count"/> instances of a shape (nothing moves yet).</summary>
    public Task<Operations.FleetPlanStatus> PlanDefragAsync(int vcpus, long memoryMiB, int count = 1, ImmutableArray<string> requiredCpuFeatures = default) =>
        Grains.GetGrain<Operations.IFleetPlanGrain>("defrag-" + Guid.NewGuid().ToString("N")[..10]).PlanDefragAsync(vcpus, memoryMiB, count, requiredCpuFeatures.IsDefault ? [] : requiredCpuFeatures);

    /// <summary>Plans the fewest migrations that bring every host under <paramref name="maxUtil"/> (nothing moves yet).</summary>
    public Task<Operations.FleetPlanStatus> PlanBalanceAsync(double maxUtil, int coolDownMinutes = 60) =>
        Grains.GetGrain<Operations.IFleetPlanGrain>("balance-" + Guid.NewGuid().ToString("N")[..10]).PlanBalanceAsync(maxUtil, coolDownMinutes);

    public async Task<Operations.FleetPlanStatus> GetPlanAsync(string planId)
    {
        FleetValidation.RequireId("plan", planId);
        return await Grains.GetGrain<Operations.IFleetPlanGrain>(planId).GetAsync()
            ?? throw OmigException.NotFound("plan", $"plan '{planId}' does not exist");
    }

    /// <summary>Executes a stored plan: its moves in order, at most <paramref name="maxParallel"/> at once.</summary>
    public async Task<Operations.FleetPlanStatus> ApplyPlanAsync(string planId, int maxParallel = 4)
    {
        await GetPlanAsync(planId);
        return await Grains.GetGrain<Operations.IFleetPlanGrain>(planId).ApplyAsync(maxParallel);
    }

    /// <summary>Migration preflight: the VM's policy, every candidate destination with the reason for each refusal, and a
    /// prediction (total time, downtime, convergence) from its dirty rate sampled for <paramref name="sampleMs"/>. Nothing moves.</summary>
    public Task<PreflightReport> PreflightAsync(MigrationRequest request, int sampleMs = 1000)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Grains.GetGrain<IPreflightGrain>(0).RunAsync(request, sampleMs);
    }

    /// <summary>The migration policies the control plane applies: built-in and configured (<c>Omig:Policies</c>).</summary>
    public Task<ImmutableArray<PolicyInfo>> ListPoliciesAsync() =>
        Grains.GetGrain<IMigrationSchedulerGrain>(IMigrationSchedulerGrain.Key).ListPoliciesAsync();

    public Task<ImmutableArray<MigrationStatus>> ListMigrationsAsync(bool includeEnded = true) =>
        SchedulerShards.ListAsync(Grains, includeEnded);

    public async Task<MigrationStatus> GetMigrationAsync(string migrationId)
    {
        RequireMigrationId(migrationId);
        return await FindAsync(migrationId) ?? throw OmigException.NotFound("migration", $"migration '{migrationId}' does not exist");
    }

    public async Task<MigrationStatus> CancelMigrationAsync(string migrationId, string reason)
    {
        RequireMigrationId(migrationId);
        var queued = await SchedulerShards.FindOpenAsync(Grains, migrationId);
        if (queued is { Phase: MigrationPhase.Queued }
            && await SchedulerShards.CancelQueuedAsync(Grains, migrationId, reason))
        {
            return await Grains.GetGrain<IMigrationGrain>(migrationId).GetAsync()
                ?? queued with { Phase = MigrationPhase.RolledBack, Failure = $"cancelled before it started: {reason}" };
        }

        return await Grains.GetGrain<IMigrationGrain>(migrationId).CancelAsync(reason);
    }

    /// <summary>Asks a migration in pre-copy to switch over now (Nova's <c>force_complete</c>); see
    /// <see cref="IMigrationGrain.ForceCompleteAsync"/>. A queued migration is refused with a conflict (nothing to force yet).</summary>
    public async Task<MigrationStatus> ForceCompleteMigrationAsync(string migrationId, string requestedBy)
    {
        RequireMigrationId(migrationId);
        var status = await FindAsync(migrationId) ?? throw OmigException.NotFound("migration", $"migration '{migrationId}' does not exist");
        if (status.Phase == MigrationPhase.Queued)
        {
            throw OmigException.Conflict("migration", $"migration '{migrationId}' cannot be force-completed: it is queued ({status.QueuedReason}), pre-copy has not started");
        }

        return await Grains.GetGrain<IMigrationGrain>(migrationId).ForceCompleteAsync(requestedBy);
    }

    /// <summary>How long <see cref="WatchMigrationAsync"/> keeps trying when the cluster does not answer before it gives up.</summary>
    public static readonly TimeSpan WatchOutage = TimeSpan.FromMinutes(2);

    /// <summary>Status updates until the migration ends (a queued migration is polled until it starts). While the migration
    /// waits for a host's agent (<see cref="MigrationStatus.AgentWait"/>) an update comes every second or so. When the silo
    /// running the migration (or the client's gateway) dies, the watch picks up again on the next activation; it gives up
    /// with Unavailable after <see cref="WatchOutage"/> without an answer.</summary>
    public async IAsyncEnumerable<MigrationStatus> WatchMigrationAsync(string migrationId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        RequireMigrationId(migrationId);
        var grain = Grains.GetGrain<IMigrationGrain>(migrationId);
        while (await grain.GetAsync() is null)
        {
            var queued = await FindAsync(migrationId) ?? throw OmigException.NotFound("migration", $"migration '{migrationId}' does not exist");
            if (queued.Phase != MigrationPhase.Queued)
            {
                break;
            }

            yield return queued;
            await Task.Delay(500, cancellationToken);
        }

        var failingSince = (DateTime?)null;
        while (true)
        {
            var stream = grain.WatchAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
            try
            {
                while (true)
                {
                    MigrationStatus status;
                    try
                    {
                        if (!await stream.MoveNextAsync())
                        {
                            yield break;
                        }

                        status = stream.Current;
                        failingSince = null;
                    }
                    catch (Exception ex) when (IsClusterOutage(ex) && !cancellationToken.IsCancellationRequested)
                    {
                        failingSince ??= DateTime.UtcNow;
                        if (DateTime.UtcNow - failingSince > WatchOutage)
                        {
                            throw new OmigException(OmigErrorCode.Unavailable, "migration",
                                $"the cluster has not answered about migration '{migrationId}' for {WatchOutage.TotalMinutes:0} min; it goes on without this watch: look again with 'omig migration show {migrationId}'");
                        }

                        break;
                    }

                    yield return status;
                    if (status.IsEnded)
                    {
                        yield break;
                    }
                }
            }
            finally
            {
                try
                {
                    await stream.DisposeAsync();
                }
                catch (Exception ex) when (IsClusterOutage(ex))
                {
                    // The enumerator's activation is gone with its silo.
                }
            }

            // The silo running the migration died (its reminder re-drives it elsewhere) or the gateway went away: the
            // next call finds or re-activates it.
            await Task.Delay(1000, cancellationToken);
        }
    }

    private static bool IsClusterOutage(Exception ex) =>
        ex is OrleansMessageRejectionException or TimeoutException or Orleans.Runtime.Messaging.ConnectionFailedException
            or EnumerationAbortedException or OmigException { Code: OmigErrorCode.Unavailable };

    /// <summary>The migration grain's status, else the scheduler's entry while it is queued, else the grain's status again:
    /// a migration can be admitted, run and end between the first two questions (it leaves the scheduler only after
    /// its grain has stored it).</summary>
    private async Task<MigrationStatus?> FindAsync(string migrationId)
    {
        var grain = Grains.GetGrain<IMigrationGrain>(migrationId);
        return await grain.GetAsync()
            ?? await SchedulerShards.FindOpenAsync(Grains, migrationId)
            ?? await grain.GetAsync();
    }

    private static void RequireMigrationId(string migrationId)
    {
        if (string.IsNullOrEmpty(migrationId) || migrationId.Length > 64 || !migrationId.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            throw OmigException.Invalid("migration", $"'{migrationId}' is not a migration id (mig-…)");
        }
    }

    /// <summary>The continuous invariant auditor's last report and counters (it runs on a control silo every
    /// <c>Omig:AuditIntervalSeconds</c>); <see cref="AuditorStatus.LastReport"/> is null before its first completed pass.</summary>
    public Task<AuditorStatus> GetAuditorStatusAsync() =>
        Grains.GetGrain<IInvariantAuditorGrain>(IInvariantAuditorGrain.Key).GetStatusAsync();

    public Task<ImmutableArray<SiloInfo>> GetSilosAsync(bool includeDead = false) =>
        Grains.GetGrain<IClusterStatusGrain>(0).GetSilosAsync(includeDead);

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            try
            {
                await _host.StopAsync(TimeSpan.FromSeconds(5));
            }
            finally
            {
                _host.Dispose();
            }
        }
    }
}

/// <summary>A VM as its host's hypervisor sees it.</summary>
/// <param name="HostId">The host the registry places the VM on.</param>
/// <param name="Driver">The host's hypervisor driver (<c>qemu</c>, <c>simulated</c>).</param>
/// <param name="State">The hypervisor's state of the VM, or null when it has no instance.</param>
/// <param name="Detail">QEMU: pid and run status, or how the process ended.</param>
public sealed record VmHypervisorView(string HostId, string Driver, string? State, string? Detail);
