using OrleansMigrate.Errors;

namespace OrleansMigrate.Grains.Hosting;

/// <summary>
/// Turns a database failure under a grain call (PostgreSQL restarting, connections cut) into
/// <see cref="OmigException"/> <c>Unavailable</c> at the call's boundary. The driver's own exception types are not
/// serializable to callers, so without this a client would see a codec error instead of "try again"; callers inside the
/// cluster (the migration grain's retries) treat Unavailable as transient.
/// </summary>
public sealed class DatabaseErrorFilter : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (Exception ex) when (ex is not OmigException && DatabaseErrorStorage.DatabaseError(ex) is { } db)
        {
            throw OmigException.Unavailable("storage", $"the cluster's database did not answer ({db.GetType().Name}: {db.Message}); try again");
        }
        catch (OrleansException ex) when (StorageUnavailable(ex) is { } unavailable)
        {
            // Orleans wraps a failed state read or write in its own exception ("Error from storage provider …");
            // the caller gets ours, as from any other call that found the database down.
            throw unavailable;
        }
    }

    private static OmigException? StorageUnavailable(Exception ex)
    {
        for (var e = ex.InnerException; e is not null; e = e.InnerException)
        {
            if (e is OmigException { Code: OmigErrorCode.Unavailable, Field: "storage" } om)
            {
                return om;
            }
        }

        return null;
    }
}
