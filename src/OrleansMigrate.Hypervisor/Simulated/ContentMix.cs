namespace OrleansMigrate.Hypervisor.Simulated;

/// <summary>
/// Share of each kind of page in the simulated guest, in percent (sum 100). Zero pages are all-zero until
/// first written (then a 16-byte stamp and zeros); compressible pages compress about 3× with LZ4;
/// incompressible pages are pseudo-random.
/// </summary>
public sealed record ContentMix(int ZeroPercent, int CompressiblePercent, int IncompressiblePercent)
{
    /// <summary>30 % zero, 40 % compressible, 30 % incompressible: compression matters on a 1 Gb/s link.</summary>
    public static ContentMix Default { get; } = new(30, 40, 30);

    public void Validate()
    {
        if (ZeroPercent < 0 || CompressiblePercent < 0 || IncompressiblePercent < 0 || ZeroPercent + CompressiblePercent + IncompressiblePercent != 100)
            throw new ArgumentException($"Content mix must be non-negative percentages summing to 100, was {ZeroPercent}/{CompressiblePercent}/{IncompressiblePercent}.");
    }
}
