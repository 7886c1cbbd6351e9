namespace OrleansMigrate.Agents;

/// <summary>Which copies of a migration the data plane compresses (LZ4). Written <c>none</c>, <c>final</c>, <c>all</c>.</summary>
public enum CompressionScope
{
    /// <summary>Nothing compressed.</summary>
    None = 0,

    /// <summary>Only the final copy inside the downtime (the default: the bulk copy is bandwidth-bound, the final one latency-bound).</summary>
    Final = 1,

    /// <summary>Every round.</summary>
    All = 2,
}

/// <summary>A policy's action when pre-copy reaches its time limit. Written <c>force</c>, <c>abort</c>.</summary>
public enum TimeoutAction
{
    /// <summary>Switch over anyway, accepting a longer downtime.</summary>
    Force = 0,

    /// <summary>Fail the migration; the VM keeps running on the source.</summary>
    Abort = 1,
}

/// <summary>A policy's action when pre-copy stops making progress. Written <c>escalate</c>, <c>abort</c>.</summary>
public enum StallAction
{
    /// <summary>Double the downtime target step by step up to the policy's cap, then switch over.</summary>
    Escalate = 0,

    /// <summary>Roll the migration back.</summary>
    Abort = 1,
}
