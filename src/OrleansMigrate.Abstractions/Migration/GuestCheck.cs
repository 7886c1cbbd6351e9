namespace OrleansMigrate.Migration;

/// <summary>The destination guest's check after the resume: the verdict and, in words, what was read or why it could not be.</summary>
[GenerateSerializer, Immutable]
[Alias("omig.GuestCheck")]
public sealed record GuestCheck(
    [property: Id(0)] GuestCheckVerdict Verdict,
    [property: Id(1)] string Detail)
{
    /// <summary>A check that did not run, with the reason.</summary>
    public static GuestCheck NotChecked(string why) => new(GuestCheckVerdict.NotChecked, why);
}
