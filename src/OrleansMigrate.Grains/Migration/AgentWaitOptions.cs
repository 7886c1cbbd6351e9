namespace OrleansMigrate.Grains.Migration;

/// <summary>
/// How long a migration waits for a host's agent that does not answer before it gives up (a rollback then ends
/// <c>failed</c> with what the operator must do), and how often it asks again meanwhile.
/// <see cref="Hosting.SiloBuilderExtensions.UseOrleansMigrate"/> sets <see cref="Timeout"/> from <c>Omig:AgentWaitTimeoutSeconds</c>.
/// </summary>
public sealed class AgentWaitOptions
{
    /// <summary>Default <see cref="Timeout"/>: five minutes, time for a silo to be restarted (or its machine rebooted).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    /// <summary>From the first failed call to the agent until the migration gives up (before the commit point).</summary>
    public TimeSpan Timeout { get; set; } = DefaultTimeout;

    /// <summary>Pause between two tries while waiting: the agent's return is noticed this quickly (five times this after the
    /// first 30 s of a wait). A try is a call only when a live silo serves the host; otherwise it is a look at the membership.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
}
