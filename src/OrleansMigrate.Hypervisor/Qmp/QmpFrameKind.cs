namespace OrleansMigrate.Hypervisor.Qmp;

/// <summary>What a QMP server frame is, decided by its top-level key.</summary>
public enum QmpFrameKind
{
    /// <summary><c>{"QMP":{...}}</c>, sent once when a client connects.</summary>
    Greeting,

    /// <summary><c>{"return":..., "id":...}</c>: a command succeeded.</summary>
    Return,

    /// <summary><c>{"error":{"class":..., "desc":...}, "id":...}</c>: a command failed.</summary>
    Error,

    /// <summary><c>{"event":"NAME", "data":{...}, "timestamp":{...}}</c>: asynchronous notification.</summary>
    Event,
}
