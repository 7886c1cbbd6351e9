using System.Reflection;

namespace OrleansMigrate.Testing;

/// <summary>
/// Every test class in this assembly carries exactly one <see cref="TestCategory"/> trait from the allowed set,
/// and no test method adds its own, so that a category filter selects each test exactly once.
/// Linked into every test project; it checks the assembly it is compiled into.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class TestCategoryTests
{
    [Fact]
    public void Every_test_class_in_this_assembly_carries_exactly_one_allowed_category()
    {
        // xunit discovers only public (or nested public) non-abstract classes; check exactly those.
        var classes = typeof(TestCategoryTests).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && (t.IsPublic || t.IsNestedPublic));
        var problems = Violations(classes);
        if (problems.Count > 0)
        {
            Assert.Fail("Test classes without exactly one allowed [Trait(TestCategory.Trait, TestCategory.<Unit|Cluster|Postgres|Qemu|Lab|Slow>)]:\n  "
                + string.Join("\n  ", problems));
        }
    }

    [Fact]
    public void The_check_finds_a_class_without_a_category_with_two_or_with_an_unknown_one()
    {
        var problems = Violations([typeof(Uncategorised), typeof(TwoCategories), typeof(Misspelt), typeof(MethodCategory), typeof(Categorised)]);
        Assert.Equal(4, problems.Count);
        Assert.Contains(problems, p => p.Contains(nameof(Uncategorised), StringComparison.Ordinal) && p.Contains("no Category", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains(nameof(TwoCategories), StringComparison.Ordinal) && p.Contains("2 categories", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains(nameof(Misspelt), StringComparison.Ordinal) && p.Contains("'unit'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains(nameof(MethodCategory), StringComparison.Ordinal) && p.Contains(nameof(MethodCategory.Probe), StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.Contains(nameof(Categorised), StringComparison.Ordinal));
    }

    /// <summary>One line per class that holds [Fact]/[Theory] methods but not exactly one allowed category.</summary>
    private static List<string> Violations(IEnumerable<Type> classes)
    {
        var problems = new List<string>();
        foreach (var type in classes.OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            var tests = type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)
                .Where(m => m.IsDefined(typeof(FactAttribute), inherit: true))
                .ToList();
            if (tests.Count == 0)
                continue;

            var categories = Categories(ClassAndBases(type).SelectMany(t => t.CustomAttributes));
            if (categories.Count == 0)
                problems.Add($"{type.FullName}: no Category trait");
            else if (categories.Count > 1)
                problems.Add($"{type.FullName}: {categories.Count} categories ({string.Join(", ", categories)}), need exactly one");
            else if (!TestCategory.All.Contains(categories[0], StringComparer.Ordinal))
                problems.Add($"{type.FullName}: '{categories[0]}' is not one of {string.Join(", ", TestCategory.All)}");

            foreach (var method in tests.Where(m => Categories(m.CustomAttributes).Count > 0))
                problems.Add($"{type.FullName}.{method.Name}: a Category trait on a method gives its tests a second category; put it on the class");
        }

        return problems;
    }

    private static IEnumerable<Type> ClassAndBases(Type type)
    {
        for (var t = type; t is not null; t = t.BaseType)
            yield return t;
    }

    // xunit 2's TraitAttribute keeps its name and value only as constructor arguments: read them from the metadata.
    private static List<string> Categories(IEnumerable<CustomAttributeData> attributes) =>
        attributes
            .Where(a => a.AttributeType == typeof(TraitAttribute)
                && a.ConstructorArguments is [{ Value: string name }, _]
                && name == TestCategory.Trait)
            .Select(a => a.ConstructorArguments[1].Value as string ?? "(null)")
            .ToList();

    // Fixtures for the check above. Private, so xunit does not discover or run them.
#pragma warning disable xUnit1000 // Test classes must be public: these must not be run, only inspected.
    private sealed class Uncategorised
    {
        [Fact]
        public void Probe() { }
    }

    [Trait(TestCategory.Trait, TestCategory.Unit)]
    [Trait(TestCategory.Trait, TestCategory.Slow)]
    private sealed class TwoCategories
    {
        [Fact]
        public void Probe() { }
    }

    [Trait(TestCategory.Trait, "unit")]
    private sealed class Misspelt
    {
        [Theory]
        [InlineData(1)]
        public void Probe(int value) => Assert.Equal(1, value);
    }

    [Trait(TestCategory.Trait, TestCategory.Unit)]
    private sealed class MethodCategory
    {
        [Fact]
        [Trait(TestCategory.Trait, TestCategory.Slow)]
        public void Probe() { }
    }

    [Trait(TestCategory.Trait, TestCategory.Cluster)]
    [Trait("Issue", "14")]
    private sealed class Categorised
    {
        [Fact]
        public void Probe() { }
    }
#pragma warning restore xUnit1000
}
