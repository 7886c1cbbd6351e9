namespace OrleansMigrate.Testing;

/// <summary>
/// The one list of test categories. Every test class carries exactly one, as
/// <c>[Trait(TestCategory.Trait, TestCategory.Unit)]</c>, so a run can be filtered by what a test needs:
/// <c>tests/run.sh --fast</c> runs <see cref="Unit"/> and <see cref="Cluster"/> only
/// (<c>--filter "Category=Unit|Category=Cluster"</c>). Linked into every test project.
/// </summary>
public static class TestCategory
{
    /// <summary>The trait name the categories are stored under.</summary>
    public const string Trait = "Category";

    /// <summary>In-process, no cluster, no external program: seconds for a whole class.</summary>
    public const string Unit = "Unit";

    /// <summary>Starts an in-process Orleans test cluster (a fixture shared by the class or its collection).</summary>
    public const string Cluster = "Cluster";

    /// <summary>Needs the private PostgreSQL from <c>tests/pg</c>; usually real silo processes on it.</summary>
    public const string Postgres = "Postgres";

    /// <summary>Needs what <c>tests/qemu/setup-qemu.sh</c> provides: real QEMU processes, the guest image, GNU as.</summary>
    public const string Qemu = "Qemu";

    /// <summary>Needs the real Linux lab parts tests/run.sh sets up (root, network namespaces, nftables, conntrack,
    /// qemu-storage-daemon, the Linux guest under tests/lab): runs in the full lane, never in the fast one.</summary>
    public const string Lab = "Lab";

    /// <summary>Long-running (chaos, soak, classes over ~20 s), or starting programs beyond the test process (silo and API
    /// processes, Chromium): left out of the fast lane whatever else they need.</summary>
    public const string Slow = "Slow";

    /// <summary>Every allowed category; a class with any other value fails <c>TestCategoryTests</c>.</summary>
    public static IReadOnlyList<string> All { get; } = [Unit, Cluster, Postgres, Qemu, Lab, Slow];
}
