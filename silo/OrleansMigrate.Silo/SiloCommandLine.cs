namespace OrleansMigrate.Silo;

/// <summary>Short switches for the silo's options, and a check that refuses anything else.</summary>
public static class SiloCommandLine
{
    public static readonly IReadOnlyDictionary<string, string> Switches = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--role"] = "Omig:Role",
        ["--hosts"] = "Omig:Hosts",
        ["--name"] = "Omig:Name",
        ["--storage"] = "Omig:Storage",
        ["--connection-string"] = "Omig:ConnectionString",
        ["--cluster-id"] = "Omig:ClusterId",
        ["--service-id"] = "Omig:ServiceId",
        ["--silo-port"] = "Omig:SiloPort",
        ["--gateway-port"] = "Omig:GatewayPort",
        ["--address"] = "Omig:AdvertisedAddress",
        ["--driver"] = "Omig:Driver",
        ["--qemu-binary"] = "Omig:Qemu:Binary",
        ["--qemu-image-dir"] = "Omig:Qemu:ImageDirectories:0",
        ["--qemu-runtime-dir"] = "Omig:Qemu:RuntimeDirectory",
        ["--accel"] = "Omig:Qemu:Accelerator",
        ["--fault-rate"] = "Omig:Faults:Rate",
        ["--fault-seed"] = "Omig:Faults:Seed",
        ["--fault-steps"] = "Omig:Faults:Steps",
        ["--telemetry"] = "Omig:Telemetry",
        ["--otlp-endpoint"] = "Omig:OtlpEndpoint",
        ["--audit-interval"] = "Omig:AuditIntervalSeconds",
        ["--tls-cert"] = "Omig:Tls:Certificate",
        ["--tls-key"] = "Omig:Tls:KeyFile",
        ["--tls-password"] = "Omig:Tls:Password",
        ["--tls-ca"] = "Omig:Tls:CaCertificate",
    };

    /// <summary>Errors for arguments that are neither a known switch with a value nor a <c>--Section:Key=value</c> setting.</summary>
    public static List<string> Check(string[] args)
    {
        var errors = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            var name = arg.Split('=', 2)[0];
            if (Switches.ContainsKey(name))
            {
                if (!arg.Contains('=') && (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal)))
                {
                    errors.Add($"{name}: needs a value");
                }
                else if (!arg.Contains('='))
                {
                    i++;
                }
            }
            else if (name.StartsWith("--", StringComparison.Ordinal) && name.Contains(':'))
            {
                if (!arg.Contains('='))
                {
                    i++;
                }
            }
            else
            {
                errors.Add($"{arg}: unknown argument; known: {string.Join(", ", Switches.Keys)} or --Section:Key=value");
            }
        }

        return errors;
    }
}
