namespace OrleansMigrate.Errors;

/// <summary>
/// The one error type grains return for a refused request. It names the field (when one is at
/// fault) and the reason, so a caller can show "field: reason" without parsing messages.
/// A refused request changes nothing.
/// </summary>
[GenerateSerializer]
[Alias("omig.OmigException")]
public sealed class OmigException : Exception
{
    public OmigException(OmigErrorCode code, string? field, string reason)
        : base(field is null ? reason : $"{field}: {reason}")
    {
        Code = code;
        Field = field;
        Reason = reason;
    }

    [Id(0)] public OmigErrorCode Code { get; private set; }

    /// <summary>The request field at fault, in the CLI's spelling (e.g. <c>memory_mib</c>), or null.</summary>
    [Id(1)] public string? Field { get; private set; }

    [Id(2)] public string Reason { get; private set; }

    public static OmigException Invalid(string field, string reason) => new(OmigErrorCode.InvalidArgument, field, reason);

    public static OmigException NotFound(string field, string reason) => new(OmigErrorCode.NotFound, field, reason);

    public static OmigException Conflict(string? field, string reason) => new(OmigErrorCode.Conflict, field, reason);

    public static OmigException Unavailable(string? field, string reason) => new(OmigErrorCode.Unavailable, field, reason);
}
