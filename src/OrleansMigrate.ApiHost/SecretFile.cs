namespace OrleansMigrate.ApiHost;

/// <summary>
/// A secret read from a file instead of the command line, where every local user reads it from the process list; the
/// same rule as the silo's <c>--connection-string-file</c>: readable by its owner only, else refused naming the key.
/// Errors never quote the secret.
/// </summary>
internal static class SecretFile
{
    private const UnixFileMode OthersMayAccess = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public static string? Read(string key, string? path, string? direct, string directKey, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return null;
        }

        if (!string.IsNullOrEmpty(direct))
        {
            errors.Add($"{key}: give either {directKey} or {key}, not both");
            return null;
        }

        try
        {
            if (!File.Exists(path))
            {
                errors.Add($"{key}: file '{path}' does not exist");
                return null;
            }

            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & OthersMayAccess) != 0)
            {
                errors.Add($"{key}: '{path}' is readable by other users: chmod 600 it");
                return null;
            }

            var value = File.ReadAllText(path).TrimEnd('\r', '\n');
            if (value.Length == 0)
            {
                errors.Add($"{key}: '{path}' is empty");
                return null;
            }

            return value;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{key}: cannot read '{path}': {ex.Message}");
            return null;
        }
    }
}
