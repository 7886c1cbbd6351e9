using System.Collections.Immutable;
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

/// <summary>Migrations: submit, plans and preflight, policies, status, cancel, force-complete and watch.</summary>
public sealed partial class OmigClient
{
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
        // Every migration id is "mig-" and lower-case hex (SchedulerShards); the prefix is also how hosts tell a migration's
        // reservation from others, so anything else can never name one.
        if (string.IsNullOrEmpty(migrationId) || migrationId.Length > 64 || !migrationId.StartsWith("mig-", StringComparison.Ordinal)
            || !migrationId.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            throw OmigException.Invalid("migration", $"'{migrationId}' is not a migration id (mig-…)");
        }
    }
}
