namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>Content kind of a guest page, fixed per page index by the seed and the content mix.</summary>
internal enum PageClass : byte
{
    Zero,
    Compressible,
    Incompressible,
}
