namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>Why bytes could not be framed as a QMP message.</summary>
public enum QmpFramingError
{
    /// <summary>The line is not valid UTF-8 JSON (or repeats a property name).</summary>
    MalformedJson,

    /// <summary>The line is valid JSON but not an object.</summary>
    NotAnObject,

    /// <summary>An object that is none of greeting, return, error or event, or one of those with the wrong shape.</summary>
    UnrecognizedMessage,

    /// <summary>A frame longer than the framer's maximum; the framer is faulted afterwards.</summary>
    FrameTooLarge,
}
