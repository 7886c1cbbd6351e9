namespace OrleansMigrate.Hypervisor.Tests;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class CpuSetTests
{
    [Theory]
    [InlineData("0", "0")]
    [InlineData("2-4", "2-4")]
    [InlineData("0, 4-5,1", "0-1,4-5")]
    [InlineData("3,3,2-3", "2-3")]
    [InlineData("7,1,3", "1,3,7")]
    public void A_cpu_list_is_parsed_and_written_back_with_its_ranges_collapsed(string text, string expected) =>
        Assert.Equal(expected, CpuSet.Parse(text, "cpus").ToString());

    [Theory]
    [InlineData("", "a CPU list is required")]
    [InlineData("a", "'a' is not a CPU number")]
    [InlineData("1-", "'1-' is not a CPU number")]
    [InlineData("-1", "'-1' is not a CPU number")]
    [InlineData("1-2-3", "'1-2-3' is not a CPU number")]
    [InlineData("4-2", "ends before it starts")]
    [InlineData("1024", "above 1023")]
    public void A_bad_cpu_list_is_refused_naming_the_field_and_the_reason(string text, string reason)
    {
        var error = Assert.Throws<ArgumentException>(() => CpuSet.Parse(text, "Qemu:VcpuCpus"));

        Assert.StartsWith("Qemu:VcpuCpus: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cpu_this_machine_does_not_have_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => CpuSet.Parse($"0-{Environment.ProcessorCount}", "Omig:HousekeepingCpus", Environment.ProcessorCount));

        Assert.Contains("does not exist here", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pinned_thread_runs_only_on_its_set_as_the_kernel_reports_it()
    {
        // A thread of its own, so the test runner's threads keep their CPUs.
        var last = Environment.ProcessorCount - 1;
        string? seen = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                CpuSet.Parse($"{last}", "cpus").PinThread(0);
                seen = CpuSet.Of(0).ToString();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));

        Assert.Null(failure);
        Assert.Equal($"{last}", seen);
    }
}
