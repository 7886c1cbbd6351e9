namespace OrleansMigrate.Grains.Operations;

/// <summary>
/// What keeps a long-running operation grain (drain, campaign, plan) going: a grain timer that runs a pass every
/// <c>period</c> and keeps the activation alive while the operation runs, and a reminder every minute that activates
/// it again after its silo died. The grain's timer callbacks do not interleave with its other calls.
/// </summary>
internal sealed class DriveLoop(Grain grain, string reminderName, TimeSpan period, Func<Task> pass)
{
    private readonly Func<Task> _pass = pass;
    private IGrainTimer? _timer;
    private IGrainTimer? _wake;

    /// <summary>A pass as soon as the grain is free, unless one is already due; the periodic timer stays as it is.</summary>
    public void Wake()
    {
        _wake ??= grain.RegisterGrainTimer(static async (DriveLoop loop, CancellationToken _) =>
        {
            loop._wake?.Dispose();
            loop._wake = null;
            await loop._pass();
        }, this, new GrainTimerCreationOptions(TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan));
    }

    public async Task ArmAsync()
    {
        _timer ??= grain.RegisterGrainTimer(static (p, _) => p(), _pass, new GrainTimerCreationOptions(period, period) { KeepAlive = true });
        await grain.RegisterOrUpdateReminder(reminderName, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    /// <summary>The reminder's tick: while the operation is active, re-arm the timer (after a reactivation) and run a
    /// pass; once it ended, stop both.</summary>
    public async Task OnReminderAsync(bool active)
    {
        if (active)
        {
            await ArmAsync();
            await _pass();
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
        _wake?.Dispose();
        _wake = null;
        if (await grain.GetReminder(reminderName) is { } reminder)
        {
            await grain.UnregisterReminder(reminder);
        }
    }
}
