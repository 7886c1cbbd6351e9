using Microsoft.Extensions.DependencyInjection;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Grains.Hosting;

/// <summary>
/// Orleans' ADO.NET reminder table with its database failures turned into <see cref="OmigException"/> <c>Unavailable</c>,
/// like <see cref="DatabaseErrorStorage"/> for grain state. A grain registers a reminder through the reminder service,
/// which may live on another silo: a driver exception thrown there has no codec, so the grain (often while it activates,
/// where no call filter sees it) got <c>CodecNotFoundException</c> for <c>Npgsql.PostgresException</c> instead of
/// "try again". Every member forwards to the table underneath.
/// </summary>
public sealed class DatabaseErrorReminderTable(IReminderTable inner) : IReminderTable
{
    /// <summary>Puts this table around the <see cref="IReminderTable"/> already registered (Orleans' ADO.NET one).</summary>
    public static void Decorate(IServiceCollection services)
    {
        var registered = services.LastOrDefault(d => d.ServiceType == typeof(IReminderTable) && !d.IsKeyedService)
            ?? throw new InvalidOperationException("no reminder table is registered to put the database error translation around");
        services.Remove(registered);
        services.AddSingleton<IReminderTable>(sp => new DatabaseErrorReminderTable(Create(sp, registered)));
    }

    private static IReminderTable Create(IServiceProvider sp, ServiceDescriptor d) =>
        (IReminderTable)(d.ImplementationInstance
            ?? d.ImplementationFactory?.Invoke(sp)
            ?? ActivatorUtilities.CreateInstance(sp, d.ImplementationType!));

    public Task StartAsync(CancellationToken cancellationToken = default) => GuardAsync("start", () => inner.StartAsync(cancellationToken));

    public Task StopAsync(CancellationToken cancellationToken = default) => inner.StopAsync(cancellationToken);

    public Task<ReminderTableData> ReadRows(GrainId grainId) => GuardAsync("read", () => inner.ReadRows(grainId));

    public Task<ReminderTableData> ReadRows(GrainId grainId, CancellationToken cancellationToken) =>
        GuardAsync("read", () => inner.ReadRows(grainId, cancellationToken));

    public Task<ReminderTableData> ReadRows(uint begin, uint end) => GuardAsync("read", () => inner.ReadRows(begin, end));

    public Task<ReminderTableData> ReadRows(uint begin, uint end, CancellationToken cancellationToken) =>
        GuardAsync("read", () => inner.ReadRows(begin, end, cancellationToken));

    public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName) => GuardAsync("read", () => inner.ReadRow(grainId, reminderName));

    public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName, CancellationToken cancellationToken) =>
        GuardAsync("read", () => inner.ReadRow(grainId, reminderName, cancellationToken));

    public Task<string?> UpsertRow(ReminderEntry entry) => GuardAsync("write", () => inner.UpsertRow(entry));

    public Task<string?> UpsertRow(ReminderEntry entry, CancellationToken cancellationToken) =>
        GuardAsync("write", () => inner.UpsertRow(entry, cancellationToken));

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag) =>
        GuardAsync("delete", () => inner.RemoveRow(grainId, reminderName, eTag));

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag, CancellationToken cancellationToken) =>
        GuardAsync("delete", () => inner.RemoveRow(grainId, reminderName, eTag, cancellationToken));

    public Task TestOnlyClearTable() => GuardAsync("clear", inner.TestOnlyClearTable);

    public Task TestOnlyClearTable(CancellationToken cancellationToken) => GuardAsync("clear", () => inner.TestOnlyClearTable(cancellationToken));

    private static async Task GuardAsync(string operation, Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception ex) when (ex is not OmigException && DatabaseErrorStorage.DatabaseError(ex) is { } db)
        {
            throw Translate(operation, db);
        }
    }

    private static async Task<T> GuardAsync<T>(string operation, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception ex) when (ex is not OmigException && DatabaseErrorStorage.DatabaseError(ex) is { } db)
        {
            throw Translate(operation, db);
        }
    }

    private static OmigException Translate(string operation, System.Data.Common.DbException db)
    {
        var sqlState = db.SqlState is { Length: > 0 } s ? $", SQLSTATE {s}" : string.Empty;
        return OmigException.Unavailable("storage", $"the cluster's database did not answer a reminder {operation} ({db.GetType().Name}{sqlState}: {db.Message}); try again");
    }
}
