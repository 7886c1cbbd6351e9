using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using OrleansMigrate.Grains.Hosting;
using OrleansMigrate.Grains.Migration;

namespace OrleansMigrate.Silo;

/// <summary>OpenTelemetry for the silo: migration traces and metrics plus Orleans' own, to the console or OTLP.</summary>
public static class Telemetry
{
    public static void Configure(HostApplicationBuilder builder, OmigSiloOptions options)
    {
        var exporter = options.Telemetry.Trim().ToLowerInvariant();
        if (exporter == "none")
        {
            return;
        }

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("orleansmigrate", serviceInstanceId: options.EffectiveName))
            .WithTracing(t =>
            {
                t.AddSource(MigrationTelemetry.SourceName, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application");
                if (exporter == "otlp")
                {
                    t.AddOtlpExporter(o => o.Endpoint = new Uri(options.OtlpEndpoint!));
                }
                else
                {
                    t.AddConsoleExporter();
                }
            })
            .WithMetrics(m =>
            {
                m.AddMeter(MigrationTelemetry.MeterName, "Microsoft.Orleans");
                if (exporter == "otlp")
                {
                    m.AddOtlpExporter(o => o.Endpoint = new Uri(options.OtlpEndpoint!));
                }
                else
                {
                    m.AddConsoleExporter();
                }
            });
    }
}
