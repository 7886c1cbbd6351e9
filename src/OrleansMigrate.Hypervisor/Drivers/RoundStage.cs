namespace OrleansMigrate.Hypervisor.Drivers;

/// <summary>Which stage sent a round.</summary>
public enum RoundStage
{
    PreCopy,
    PreLastCopy,
}
