namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>Outcome of checking one page against its stamp.</summary>
internal enum PageProblemCheck
{
    Ok,
    Corrupt,
    Misplaced,
}
