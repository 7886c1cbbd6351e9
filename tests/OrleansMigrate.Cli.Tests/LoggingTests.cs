using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OrleansMigrate.Cli.Demo;

namespace OrleansMigrate.Cli.Tests;

/// <summary>Swaps the process's console writers, so it runs alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "console";
}

[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ConsoleCollection.Name)]
public sealed class LoggingTests
{
    [Fact]
    public void The_embedded_silos_logs_go_to_stderr_and_never_to_stdout()
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            var services = new ServiceCollection().AddLogging(b => EmbeddedCluster.AddStandardErrorLogging(b, LogLevel.Information)).BuildServiceProvider();
            using (services)
            {
                var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Orleans.Test");
                logger.LogWarning("a warning from the silo");
                logger.LogError("an error from the silo");
            }
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }

        Assert.Equal("", stdout.ToString());
        Assert.Contains("a warning from the silo", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("an error from the silo", stderr.ToString(), StringComparison.Ordinal);
    }
}
