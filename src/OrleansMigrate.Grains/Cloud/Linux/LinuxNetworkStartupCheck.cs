using Orleans;
using Orleans.Runtime;

namespace OrleansMigrate.Grains.Cloud.Linux;

/// <summary>Stops a silo whose <c>linux</c> network backend cannot work here: bad options, or a machine without
/// <c>ip</c>, the lab's namespaces or the VPC's VXLAN devices — one message each, naming the key.</summary>
public sealed class LinuxNetworkStartupCheck(LinuxNetworkOptions options) : IConfigurationValidator
{
    public void ValidateConfiguration()
    {
        var errors = options.Check();
        if (errors.Count == 0)
        {
            errors = options.CheckMachine();
        }

        if (errors.Count > 0)
        {
            throw new OrleansConfigurationException("The linux network backend (Omig:Cloud:Network:Backend=linux) cannot start:\n  " + string.Join("\n  ", errors));
        }
    }
}
