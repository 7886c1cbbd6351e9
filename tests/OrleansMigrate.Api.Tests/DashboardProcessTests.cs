using System.Net;

namespace OrleansMigrate.Api.Tests;

/// <summary>
/// The programs: <c>omig-silo --dashboard --api-port</c> serves the dashboard from the silo's own API, and
/// <c>omig-api --dashboard</c>, a cluster client, serves it too, calling the silo's dashboard grains. Each with an
/// operator's session cookie only; both list the silo in the dashboard's counters.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Slow)] // starts silo and API processes
public sealed class DashboardProcessTests
{
    [Fact]
    public async Task The_silo_with_dashboard_and_the_api_process_with_dashboard_both_serve_it_to_an_operator_session()
    {
        var clusterId = $"dash-proc-{Guid.NewGuid():N}";
        var gateway = FreePorts.Next();
        var siloApi = FreePorts.Next();
        await using var silo = await ApiProcesses.SiloAsync(clusterId, gateway, ["--dashboard", "--api-port", $"{siloApi}", .. ApiProcessTests.OperatorKey]);
        await silo.WaitForAsync($"HTTP API on 127.0.0.1:{siloApi} (1 API key(s)), Orleans dashboard at /dashboard/", TimeSpan.FromSeconds(30));

        var port = FreePorts.Next();
        await using var api = ApiProcesses.Start(ApiProcesses.ApiDll,
            ["--gateway", $"{gateway}", "--cluster-id", clusterId, "--api-port", $"{port}", "--dashboard", .. ApiProcessTests.OperatorKey]);
        await api.WaitForAsync("omig-api up: ", TimeSpan.FromSeconds(120));
        Assert.Contains("Orleans dashboard at /dashboard/", api.Output, StringComparison.Ordinal);

        foreach (var address in new[] { new Uri($"http://127.0.0.1:{siloApi}/"), new Uri($"http://127.0.0.1:{port}/") })
        {
            var (_, id) = await DashboardFixture.SessionAsync(address, ApiProcessTests.Bearer);
            using (var page = await DashboardFixture.GetWithCookieAsync(address, "dashboard/", id))
            {
                Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            }

            await DashboardFixture.CountersListSiloAsync(address, id, "api-proc-silo");
        }

        // Both programs' --help name the switch; omig-api's says that the silos need it too.
        var (siloCode, siloHelp) = await ApiProcesses.RunToExitAsync(ApiProcesses.SiloDll, "--help");
        Assert.Equal(0, siloCode);
        Assert.Contains("--dashboard", siloHelp, StringComparison.Ordinal);
        var (apiCode, apiHelp) = await ApiProcesses.RunToExitAsync(ApiProcesses.ApiDll, "--help");
        Assert.Equal(0, apiCode);
        Assert.Contains("omig-silo --dashboard", apiHelp, StringComparison.Ordinal);
    }
}
