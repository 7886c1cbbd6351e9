namespace OrleansMigrate.Operations;

/// <summary>
/// What keeps a long-running operation grain (drain, campaign, plan) going: a grain timer that runs a pass every
/// <c>period</c> and keeps the activation alive while the operation runs, and a reminder every minute that activates
/// it again after its silo died. The grain's timer callbacks do not interleave with its other calls.
/// </summary>
internal sealed class DriveLoop(Grain grain, string reminderName, TimeSpan period, Func<Task> pass)
{
    private IGrainTimer? _timer;

    public async Task ArmAsync()
    {
        _timer ??= grain.RegisterGrainTimer(static (p, _) => p(), pass, new GrainTimerCreationOptions(period, period) { KeepAlive = true });
        await grain.RegisterOrUpdateReminder(reminderName, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    /// <summary>The reminder's tick: while the operation is active, re-arm the timer (after a reactivation) and run a
    /// pass; once it ended, stop both.</summary>
    public async Task OnReminderAsync(bool active)
    {
        if (active)
        {
            await ArmAsync();
            await pass();
        }
        else
        {
            await DisarmAsync();
        }
    }

    public async Task DisarmAsync()
    {
        _timer?.Dispose();
        _timer = null;
        if (await grain.GetReminder(reminderName) is { } reminder)
        {
            await grain.UnregisterReminder(reminder);
        }
    }
}
