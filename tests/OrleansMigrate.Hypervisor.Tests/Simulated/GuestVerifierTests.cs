using OrleansMigrate.Hypervisor.Drivers;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Tests.Simulated;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class GuestVerifierTests
{
    private const ulong Seed = 42;
    private const int Pages = 96;

    private static (GuestMemory Memory, PageClass[] Classes, uint[] Generations) Guest()
    {
        var memory = new GuestMemory(Pages * (long)GuestMemory.PageSize);
        var classes = new PageClass[Pages];
        var generations = new uint[Pages];
        for (var i = 0; i < Pages; i++)
        {
            classes[i] = PageContent.ClassOf(i, ContentMix.Default, Seed);
            generations[i] = (uint)(i % 3);
            PageContent.Fill(memory.Page(i), i, generations[i], classes[i], Seed);
        }

        return (memory, classes, generations);
    }

    [Fact]
    public void IntactGuestIsConsistentAndTheRebuiltVectorMatches()
    {
        var (memory, classes, generations) = Guest();
        using (memory)
        {
            var rebuilt = new uint[Pages];
            var report = GuestVerifier.Verify(memory, classes, Seed, manifest: null, generations, sessions: null, rebuilt);

            Assert.True(report.Consistent, report.Summary);
            Assert.Equal(generations, rebuilt);
        }
    }

    [Fact]
    public void CorruptMisplacedAndStalePagesAreEachDetected()
    {
        var (memory, classes, generations) = Guest();
        using (memory)
        {
            // Corrupt: one flipped bit in a page body.
            var corrupt = Array.FindIndex(classes, c => c == PageClass.Incompressible);
            memory.Page(corrupt)[2000] ^= 1;

            // Misplaced: a page copied over another of the same class (lost write landing at the wrong index).
            var source = Array.FindIndex(classes, corrupt + 1, c => c == PageClass.Compressible);
            var target = Array.FindIndex(classes, source + 1, c => c == PageClass.Compressible);
            memory.Page(source).CopyTo(memory.Page(target));

            // Stale: the page is intact but one generation behind what the source had at pause.
            var stale = Array.FindIndex(classes, target + 1, c => c != PageClass.Zero);
            var expected = generations.ToArray();
            expected[stale]++;

            var report = GuestVerifier.Verify(memory, classes, Seed, manifest: null, expected, sessions: null, new uint[Pages]);

            Assert.False(report.Consistent);
            Assert.Equal((1L, 1L, 1L), (report.CorruptPages, report.MisplacedPages, report.StalePages));
            Assert.Contains(report.Problems, p => p.PageIndex == corrupt && p.Kind == PageProblemKind.Corrupt);
            Assert.Contains(report.Problems, p => p.PageIndex == target && p.Kind == PageProblemKind.Misplaced);
            Assert.Contains(report.Problems, p => p.PageIndex == stale && p.Kind == PageProblemKind.Stale);
        }
    }

    [Fact]
    public void ZeroPageThatLostItsContentIsCorruptOnlyWhenItShouldHoldData()
    {
        var (memory, classes, generations) = Guest();
        using (memory)
        {
            var dataPage = Array.FindIndex(classes, c => c != PageClass.Zero);
            memory.Page(dataPage).Clear();

            var report = GuestVerifier.Verify(memory, classes, Seed, manifest: null, generations, sessions: null, new uint[Pages]);

            Assert.Equal(1, report.CorruptPages);
            Assert.Equal(dataPage, report.Problems.Single().PageIndex);
        }
    }
}
