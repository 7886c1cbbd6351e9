using System.Data.Common;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace OrleansMigrate.Grains.Hosting;

/// <summary>
/// Whether the cluster's PostgreSQL can serve a silo that is starting: reachable, the credentials accepted, our schema
/// in place. A silo waits out a database that is down or recovering (<see cref="Outcome.Transient"/>) and stops at
/// once, with one line, on one that can never serve it as configured (<see cref="Outcome.Permanent"/>: wrong
/// password, no such database, schema missing).
/// </summary>
public static class DatabaseReadiness
{
    public enum Outcome
    {
        Ready,
        Transient,
        Permanent,
    }

    /// <summary>Connects once and checks our tables; never throws (except on cancellation). The reason never quotes the
    /// connection string.</summary>
    public static async Task<(Outcome Outcome, string Reason)> ProbeAsync(string connectionString, CancellationToken cancellationToken)
    {
        try
        {
            var csb = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 10, CommandTimeout = 10, Pooling = false };
            await using var connection = new NpgsqlConnection(csb.ConnectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1 FROM orleans_membership LIMIT 0; SELECT 1 FROM orleans_storage LIMIT 0; SELECT 1 FROM orleans_reminders LIMIT 0";
            await command.ExecuteNonQueryAsync(cancellationToken);
            return (Outcome.Ready, "ready");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return (Outcome.Permanent, $"{ex.SqlState}: {ex.MessageText}: the database has no OrleansMigrate schema (deploy/postgres/create-db.sh creates it)");
        }
        catch (Exception ex) when (ex is DbException or TimeoutException or SocketException or IOException)
        {
            return (IsTransient(ex) ? Outcome.Transient : Outcome.Permanent, Describe(ex));
        }
        catch (ArgumentException ex)
        {
            // The connection string itself is malformed; the message names the keyword, never the value.
            return (Outcome.Permanent, "Omig:ConnectionString: " + ArgumentMessages.Reason(ex));
        }
    }

    /// <summary>True for a failure that passes by itself: the server down, restarting or recovering, a connection cut,
    /// a timeout. False for refused credentials, a missing database or schema, and anything that is not the database's.</summary>
    public static bool IsTransient(Exception ex)
    {
        foreach (var e in Chain(ex))
        {
            switch (e)
            {
                case PostgresException pg:
                    // Class 08 connection exception, 53 insufficient resources, 57P0x shutdown/starting up, 40 rollbacks.
                    return pg.IsTransient || pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("53", StringComparison.Ordinal)
                        || pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow;
                case NpgsqlException npg when npg.InnerException is not PostgresException:
                    return npg.IsTransient || npg.InnerException is SocketException or IOException or TimeoutException;
                case SocketException socket:
                    return socket.SocketErrorCode is not SocketError.AddressAlreadyInUse and not SocketError.AddressNotAvailable;
                case TimeoutException when ex.ToString().Contains("Npgsql", StringComparison.Ordinal):
                    return true;
            }
        }

        return false;
    }

    /// <summary>The database's own error in one line (<c>28P01: password authentication failed for user "omig"</c>).</summary>
    public static string Describe(Exception ex)
    {
        foreach (var e in Chain(ex))
        {
            if (e is PostgresException pg)
            {
                return $"{pg.SqlState}: {pg.MessageText}";
            }
        }

        var inner = ex.GetBaseException();
        return inner.Message.Length > 0 ? inner.Message : inner.GetType().Name;
    }

    /// <summary>The silo-to-silo endpoints of this cluster's silos the membership table lists as active.</summary>
    public static async Task<List<IPEndPoint>> ActiveSilosAsync(string connectionString, string clusterId, CancellationToken cancellationToken)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 10, CommandTimeout = 10, Pooling = false };
        await using var connection = new NpgsqlConnection(csb.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT address, port FROM orleans_membership WHERE deployment_id = @id AND status = 3";
        command.Parameters.AddWithValue("id", clusterId);
        var endpoints = new List<IPEndPoint>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (IPAddress.TryParse(reader.GetString(0), out var address))
            {
                endpoints.Add(new IPEndPoint(address, reader.GetInt32(1)));
            }
        }

        return endpoints;
    }

    private static IEnumerable<Exception> Chain(Exception ex)
    {
        var pending = new Stack<Exception>([ex]);
        while (pending.TryPop(out var e))
        {
            yield return e;
            if (e is AggregateException agg)
            {
                foreach (var inner in agg.InnerExceptions.Reverse())
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }
    }
}
