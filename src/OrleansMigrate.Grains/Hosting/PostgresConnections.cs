using System.Text.RegularExpressions;
using Npgsql;

namespace OrleansMigrate.Grains.Hosting;

/// <summary>How many connections a silo opens to PostgreSQL (<see cref="OmigSiloOptions.DatabaseMaxConnections"/>).</summary>
public static partial class PostgresConnections
{
    public const int DefaultMaxConnections = 20;

    /// <summary><paramref name="connectionString"/> with Npgsql's pool capped at <paramref name="maxConnections"/>, unless it
    /// sets its own <c>Maximum Pool Size</c> (kept as given). Clustering, grain storage and reminders share the pool.</summary>
    public static string Bounded(string connectionString, int maxConnections)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        if (SetsPoolSize().IsMatch(connectionString))
        {
            return connectionString;
        }

        var csb = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = maxConnections };
        if (csb.MinPoolSize > maxConnections)
        {
            csb.MinPoolSize = maxConnections;
        }

        return csb.ConnectionString;
    }

    /// <summary>Connections of the membership table's own pool (votes, I-am-alive writes, table reads).</summary>
    public const int MembershipConnections = 5;

    /// <summary>The connection string for Orleans' membership table: its own pool (Npgsql pools by connection string;
    /// the application name differs), so a burst of storage calls never makes liveness writes wait for a connection
    /// and get this silo suspected.</summary>
    public static string ForMembership(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var csb = new NpgsqlConnectionStringBuilder(Bounded(connectionString, MembershipConnections));
        csb.ApplicationName = (string.IsNullOrEmpty(csb.ApplicationName) ? "omig" : csb.ApplicationName) + "-membership";
        return csb.ConnectionString;
    }

    [GeneratedRegex(@"(^|;)\s*max(imum)?\s*pool\s*size\s*=", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SetsPoolSize();
}
