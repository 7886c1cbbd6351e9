namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>Disk image confinement: an image path is resolved through every symbolic link and must lie inside a configured image directory.</summary>
public sealed partial class QemuHypervisorDriver
{
    /// <summary>Resolves the image (following symbolic links) and checks it is a regular file inside a configured image directory.</summary>
    private string CheckImage(string path)
    {
        if (string.IsNullOrWhiteSpace(path) || !Path.IsPathFullyQualified(path))
            throw new ArgumentException($"image path must be absolute, was '{path}'.", nameof(path));
        if (_options.ImageDirectories.Count == 0)
            throw new ArgumentException("no image directories are configured on this host (Qemu:ImageDirectories): no image may be used.", nameof(path));
        // Confinement first, and one answer for a path outside whether or not it exists: the answer must not tell a
        // caller which files exist elsewhere on the host. Every component is resolved, not only the last: a linked
        // directory inside an image directory may point anywhere.
        var resolved = RealPath(path);
        var confined = _options.ImageDirectories.Any(dir =>
            resolved.StartsWith(Path.TrimEndingDirectorySeparator(RealPath(dir)) + Path.DirectorySeparatorChar, StringComparison.Ordinal));
        if (!confined)
            throw new ArgumentException($"image '{path}' is outside the configured image directories ({string.Join(", ", _options.ImageDirectories)}).", nameof(path));
        if (!File.Exists(resolved))
            throw new ArgumentException($"image '{path}' does not exist on host {HostId}.", nameof(path));
        return resolved;
    }

    /// <summary>The path with symbolic links resolved in every component, as realpath(3) does (Linux paths).</summary>
    private static string RealPath(string path)
    {
        var pending = new Stack<string>();
        Push(path);
        var current = "/";
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part == ".")
                continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }

            var next = Path.Join(current, part);
            if (new FileInfo(next).LinkTarget is { } target)
            {
                if (++links > 40)
                    throw new ArgumentException($"image path '{path}' has too many levels of symbolic links.", nameof(path));
                if (Path.IsPathRooted(target))
                    current = "/";
                Push(target);
                continue;
            }

            current = next;
        }

        return current;

        void Push(string p)
        {
            foreach (var component in p.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
                pending.Push(component);
        }
    }
}
