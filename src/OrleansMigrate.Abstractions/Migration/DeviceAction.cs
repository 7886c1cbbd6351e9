namespace OrleansMigrate.Migration;

/// <summary>What a <see cref="DeviceStep"/> did.</summary>
public enum DeviceAction
{
    Unplug = 0,
    Plug = 1,
}
