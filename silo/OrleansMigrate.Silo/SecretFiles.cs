using OrleansMigrate.Grains.Hosting;

namespace OrleansMigrate.Silo;

/// <summary>
/// Secrets read from files (<c>--connection-string-file</c>, <c>--tls-password-file</c>) instead of the command line,
/// where every local user reads them from the process list. A file must be readable by its owner only (mode 0600 or
/// 0400): one readable by others is refused, naming the key.
/// </summary>
internal static class SecretFiles
{
    private const UnixFileMode OthersMayAccess = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Fills <see cref="OmigSiloOptions.ConnectionString"/> and the TLS password from their files; errors name
    /// the key and never quote a secret.</summary>
    public static List<string> Resolve(OmigSiloOptions options)
    {
        var errors = new List<string>();
        if (Read("Omig:ConnectionStringFile", options.ConnectionStringFile, options.ConnectionString, "Omig:ConnectionString", errors) is { } cs)
        {
            options.ConnectionString = cs;
        }

        if (Read("Omig:Tls:PasswordFile", options.Tls.PasswordFile, options.Tls.Password, "Omig:Tls:Password", errors) is { } password)
        {
            options.Tls.Password = password;
        }

        return errors;
    }

    private static string? Read(string key, string? path, string? direct, string directKey, List<string> errors)
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

        if (!File.Exists(path))
        {
            errors.Add($"{key}: file '{path}' does not exist");
            return null;
        }

        try
        {
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & OthersMayAccess) != 0)
            {
                errors.Add($"{key}: '{path}' is readable by other users (mode {Convert.ToString((int)File.GetUnixFileMode(path), 8).PadLeft(4, '0')}): chmod 600 it");
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
