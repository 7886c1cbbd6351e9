using System.CommandLine;
using OrleansMigrate.Cli.Commands;

namespace OrleansMigrate.Cli.Tests;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class ExitCodeTests
{
    [Fact]
    public void Omig_help_lists_every_exit_code_with_its_meaning()
    {
        var output = new StringWriter();
        var code = OmigCommandLine.Build().Parse(["--help"]).Invoke(new InvocationConfiguration { Output = output });

        Assert.Equal(ExitCodes.Ok, code);
        var help = output.ToString();
        Assert.Contains("Exit codes:", help, StringComparison.Ordinal);
        foreach (var (exit, meaning) in ExitCodes.All)
        {
            Assert.Contains($"{exit,3}  {meaning}", help, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_table_holds_every_code_the_commands_return_once_and_a_rollback_and_a_preflight_no_differ()
    {
        var constants = typeof(ExitCodes).GetFields().Where(f => f.IsLiteral).Select(f => (int)f.GetRawConstantValue()!).ToList();

        Assert.Equal(constants.Order(), ExitCodes.All.Select(e => e.Code).Order());
        Assert.Equal(ExitCodes.All.Count, ExitCodes.All.Select(e => e.Code).Distinct().Count());
        Assert.NotEqual(ExitCodes.NotCompleted, ExitCodes.PreflightNo);
        Assert.NotEqual(ExitCodes.Ok, ExitCodes.AlreadyEnded);
    }

    [Fact]
    public void The_readme_lists_the_same_exit_codes()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));

        foreach (var (exit, meaning) in ExitCodes.All)
        {
            Assert.Contains($"| {exit} | {meaning} |", readme, StringComparison.Ordinal);
        }
    }
}
