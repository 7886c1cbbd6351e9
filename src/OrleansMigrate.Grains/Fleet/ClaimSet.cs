namespace OrleansMigrate.Grains.Fleet;

/// <summary>
/// Exclusive claims on named things (a VM id, a host, a disk, an address) for a reentrant grain whose requests
/// interleave: a request takes all the names it needs at once or waits until none of them is held, then takes them all
/// — never some of them while waiting for others, so two requests can never wait on each other. Requests on disjoint
/// names run concurrently; requests sharing a name run one after the other. Used only on the
/// owning grain's scheduler (one turn at a time), so testing and taking the names is atomic without a lock.
/// </summary>
public sealed class ClaimSet
{
    private readonly Dictionary<string, Task> _held = new(StringComparer.Ordinal);

    /// <summary>How many names are held now.</summary>
    public int HeldCount => _held.Count;

    /// <summary>Waits until no name of <paramref name="names"/> is held, takes them all, and returns their release.</summary>
    public async Task<IDisposable> AcquireAsync(IEnumerable<string> names)
    {
        var wanted = names.Distinct(StringComparer.Ordinal).ToArray();
        while (true)
        {
            var busy = wanted.Where(_held.ContainsKey).Select(n => _held[n]).Distinct().ToArray();
            if (busy.Length == 0)
            {
                var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                foreach (var name in wanted)
                {
                    _held[name] = released.Task;
                }

                return new Claim(this, wanted, released);
            }

            await Task.WhenAny(busy);
        }
    }

    private sealed class Claim(ClaimSet owner, string[] names, TaskCompletionSource released) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var name in names)
            {
                owner._held.Remove(name);
            }

            released.SetResult();
        }
    }
}
