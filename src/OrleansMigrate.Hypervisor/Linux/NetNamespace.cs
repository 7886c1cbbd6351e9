using System.Runtime.InteropServices;

namespace OrleansMigrate.Hypervisor.Linux;

/// <summary>
/// Runs code inside a named network namespace (one <c>ip netns add</c> made, under <c>/run/netns</c>) without moving
/// this process: the code runs on a dedicated thread that joins the namespace with <c>setns(2)</c> and ends after it.
/// A socket created there belongs to that namespace for its whole life and may then be used from any thread — so one
/// process can send a client namespace's traffic, or read a host namespace's conntrack table over netlink.
/// </summary>
public static partial class NetNamespace
{
    private const int CloneNewNet = 0x40000000;

    /// <summary>Where <c>ip netns</c> keeps its namespaces.</summary>
    public const string Directory = "/run/netns";

    /// <summary>Whether a namespace of that name exists.</summary>
    public static bool Exists(string name) => IsValidName(name) && File.Exists(Path.Combine(Directory, name));

    /// <summary>A name <c>ip netns</c> accepts and we use: 1–32 characters of letters, digits, '-', '_' and '.', not
    /// starting with '.'.</summary>
    public static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= 32 } && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Runs <paramref name="action"/> inside namespace <paramref name="name"/> (null: this process's own) and
    /// returns its result. Throws <see cref="ArgumentException"/> for a bad name, <see cref="InvalidOperationException"/>
    /// naming the namespace when it does not exist or cannot be joined; exceptions of <paramref name="action"/> pass
    /// through.</summary>
    public static T Run<T>(string? name, Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (name is null)
            return action();
        if (!IsValidName(name))
            throw new ArgumentException($"'{name}' is not a network namespace name.", nameof(name));
        var path = Path.Combine(Directory, name);
        if (!File.Exists(path))
            throw new InvalidOperationException($"network namespace '{name}' does not exist ({path} is missing)");

        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
                if (SetNs(handle.DangerousGetHandle().ToInt32(), CloneNewNet) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    throw new InvalidOperationException($"cannot join network namespace '{name}': setns failed with errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})");
                }

                result = action();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        })
        {
            IsBackground = true,
            Name = $"netns {name}",
        };
        thread.Start();
        thread.Join();
        if (failure is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        return result;
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);
}
