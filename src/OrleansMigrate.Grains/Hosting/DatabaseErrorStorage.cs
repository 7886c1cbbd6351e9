using System.Data.Common;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Errors;
using Orleans.Storage;

namespace OrleansMigrate.Grains.Hosting;

/// <summary>
/// The grain storage our grains see on PostgreSQL: Orleans' ADO.NET storage with its database failures turned into
/// <see cref="OmigException"/> <c>Unavailable</c> (field <c>storage</c>) where they happen. <see cref="DatabaseErrorFilter"/>
/// does the same at a grain call's boundary, but a state read that fails while a grain activates never passes a call
/// filter: Orleans sends that failure to the caller as it is, and the driver's exception types have no codec, so the
/// caller saw <c>CodecNotFoundException</c> for <c>Npgsql.PostgresException</c> instead of "try again". Version
/// conflicts (<see cref="InconsistentStateException"/>) and every other failure pass through unchanged.
/// </summary>
public sealed class DatabaseErrorStorage(IGrainStorage inner, ILogger<DatabaseErrorStorage> logger) : IGrainStorage
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        GuardAsync("read", stateName, grainId, () => inner.ReadStateAsync(stateName, grainId, grainState));

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        GuardAsync("write", stateName, grainId, () => inner.WriteStateAsync(stateName, grainId, grainState));

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        GuardAsync("clear", stateName, grainId, () => inner.ClearStateAsync(stateName, grainId, grainState));

    private async Task GuardAsync(string operation, string stateName, GrainId grainId, Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception ex) when (ex is not OmigException && DatabaseError(ex) is { } db)
        {
            var sqlState = db.SqlState is { Length: > 0 } s ? $" SQLSTATE {s}" : string.Empty;
            logger.LogWarning(1002, ex, "Storage {Operation} of {StateName} for {GrainId} failed on the database ({Type}{SqlState}): {Message}",
                operation, stateName, grainId, db.GetType().Name, sqlState, db.Message);
            throw Translate(operation, db);
        }
    }

    /// <summary>The error a caller sees for a database failure under a storage call: ours, serializable, transient.</summary>
    public static OmigException Translate(string operation, DbException db)
    {
        var sqlState = db.SqlState is { Length: > 0 } s ? $", SQLSTATE {s}" : string.Empty;
        return OmigException.Unavailable("storage", $"the cluster's database did not answer a state {operation} ({db.GetType().Name}{sqlState}: {db.Message}); try again");
    }

    /// <summary>The database failure in an exception's chain, if any.</summary>
    public static DbException? DatabaseError(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is DbException db)
            {
                return db;
            }
        }

        return null;
    }
}
