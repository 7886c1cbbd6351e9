namespace OrleansMigrate.Migration;

public enum OrchestrationMode
{
    /// <summary>The seed's design: slow cloud work before the freeze or after the resume, the critical path in parallel.</summary>
    Parallel = 0,
    /// <summary>The naive design, kept for comparison: steps one after another, disk close/reopen and flow
    /// installation inside the downtime, no relay.</summary>
    Serial = 1,
}
