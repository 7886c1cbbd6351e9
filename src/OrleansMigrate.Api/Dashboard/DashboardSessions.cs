using System.Security.Cryptography;
using System.Text;

namespace OrleansMigrate.Api.Dashboard;

/// <summary>
/// The dashboard's browser sessions, held in this API process. The Orleans dashboard is a single-page application whose
/// own scripts fetch its JSON endpoints, so a browser can send nothing but a cookie with them; the cookie carries an opaque
/// random id (32 bytes), never the bearer key or token itself:
/// <list type="bullet">
/// <item>a stolen cookie opens the read-only dashboard pages only — it is not an API key, and <c>/v1</c> never accepts it;</item>
/// <item>it expires on its own (<see cref="Lifetime"/>, or earlier when the token that created it expires: a JWT's
/// session never outlives the JWT), and <c>DELETE /v1/session</c> revokes it on the server, which a cookie holding the
/// key could not do;</item>
/// <item>the server keeps only the SHA-256 of each id, so a memory dump shows no usable cookie.</item>
/// </list>
/// Eight hours is one operator's shift: long enough not to interrupt a day's watching, short enough that a forgotten
/// browser does not keep access overnight. The cost of an in-process store: a session works on the API process that
/// created it (behind a load balancer, pin operators to one), and a restart signs everyone out of the dashboard.
/// Bounded: at most <see cref="MaxPerCaller"/> per caller (a new one replaces that caller's oldest) and
/// <see cref="MaxSessions"/> in all.
/// </summary>
public sealed class DashboardSessions(TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    public const int MaxPerCaller = 16;

    public const int MaxSessions = 4096;

    private readonly Dictionary<string, DashboardSession> _byHash = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public DashboardSessions() : this(TimeProvider.System)
    {
    }

    /// <summary>How many sessions are open (expired ones not yet purged count until the next <see cref="Create"/>).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byHash.Count;
            }
        }
    }

    /// <summary>A new session for the caller: its id (what the cookie carries) and when it expires; null when
    /// <see cref="MaxSessions"/> unexpired sessions are open already.</summary>
    /// <param name="credentialExpires">When the credential that asked expires (a JWT's <c>exp</c>), if it does.</param>
    public (string Id, DateTimeOffset Expires)? Create(string name, string role, DateTimeOffset? credentialExpires)
    {
        var now = time.GetUtcNow();
        var expires = now + Lifetime;
        if (credentialExpires is { } limit && limit < expires)
        {
            expires = limit;
        }

        var id = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        lock (_lock)
        {
            foreach (var (hash, _) in _byHash.Where(s => s.Value.Expires <= now).ToList())
            {
                _byHash.Remove(hash);
            }

            var own = _byHash.Where(s => string.Equals(s.Value.Name, name, StringComparison.Ordinal)).OrderBy(s => s.Value.Created).ToList();
            foreach (var (hash, _) in own.Take(Math.Max(0, own.Count - MaxPerCaller + 1)))
            {
                _byHash.Remove(hash);
            }

            if (_byHash.Count >= MaxSessions)
            {
                return null;
            }

            _byHash[Hash(id)] = new DashboardSession(name, role, now, expires);
        }

        return (id, expires);
    }

    /// <summary>The session a cookie names, if it exists and has not expired.</summary>
    public DashboardSession? Find(string id)
    {
        if (id.Length is 0 or > 128)
        {
            return null;
        }

        lock (_lock)
        {
            return _byHash.TryGetValue(Hash(id), out var session) && session.Expires > time.GetUtcNow() ? session : null;
        }
    }

    /// <summary>Ends every session of the caller (a browser does not send the dashboard's cookie to <c>/v1</c>, so the
    /// sign-out cannot name one); returns how many there were.</summary>
    public int RemoveAll(string name)
    {
        lock (_lock)
        {
            var own = _byHash.Where(s => string.Equals(s.Value.Name, name, StringComparison.Ordinal)).Select(s => s.Key).ToList();
            foreach (var hash in own)
            {
                _byHash.Remove(hash);
            }

            return own.Count;
        }
    }

    private static string Hash(string id) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(id)));
}

/// <summary>One dashboard session: who opened it (the audit log's name), with which role, and until when.</summary>
public sealed record DashboardSession(string Name, string Role, DateTimeOffset Created, DateTimeOffset Expires);
