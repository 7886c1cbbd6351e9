using System.Diagnostics;

namespace OrleansMigrate.Api.Tests;

/// <summary>
/// tests/api-python/test_api.py (standard library only) against the API on its loopback port: what a cloud service in
/// Python does — hosts, a VM, a migration, its event stream to the end. Skipped, with the reason, when python3 is absent.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Cluster)]
[Collection(ApiCollection.Name)]
public sealed class PythonClientTests(ApiFixture fixture)
{
    [PythonFact]
    public async Task The_python_client_creates_migrates_and_follows_the_events_to_the_end()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "api-python", "test_api.py");
        Assert.True(File.Exists(script), $"{script} was not copied to the output");
        var psi = new ProcessStartInfo(PythonFactAttribute.Python!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.Environment["OMIG_API_URL"] = fixture.BaseAddress.ToString();
        psi.Environment["OMIG_API_KEY"] = fixture.OperatorKey;
        psi.Environment["NO_PROXY"] = "127.0.0.1,localhost";
        psi.Environment["no_proxy"] = "127.0.0.1,localhost";
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("test_api.py did not finish within 180 s");
        }

        Assert.True(process.ExitCode == 0, $"test_api.py exited {process.ExitCode}:\n{await stdout}\n{await stderr}");
        Assert.StartsWith("ok:", await stdout, StringComparison.Ordinal);
    }
}

/// <summary>A fact that is reported as skipped, with the reason, when no <c>python3</c> is on the PATH (xunit 2 has no
/// skip at run time, so the check runs at discovery).</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public static readonly string? Python = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, "python3"))
        .FirstOrDefault(File.Exists);

    public PythonFactAttribute()
    {
        if (Python is null)
        {
            Skip = "python3 is not on the PATH: the Python client test cannot run here";
        }
    }
}
