using System.Collections.Immutable;
using OrleansMigrate.Errors;
using OrleansMigrate.Fleet;

namespace OrleansMigrate.Tests.Fleet;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class FleetValidationTests
{
    private static readonly HostSpec GoodHost = new("host-1", 32, 131072, "Xeon", ["avx", "avx2"], 3, "2.4.1", "6.1.0", "7.2.0",
        ImmutableDictionary<string, string>.Empty.Add("rack", "r1"));

    private static readonly VmSpec GoodVm = new("vm-1", 4, 8192, ["avx"], "standard", ImmutableDictionary<string, string>.Empty,
        [new DiskSpec("vm-1-root", 40)], [new NicSpec("vpc-1", "10.0.0.5", "02:00:00:00:00:01")], []);

    public static TheoryData<string, HostSpec> BadHosts => new()
    {
        { "host_id", GoodHost with { HostId = "" } },
        { "host_id", GoodHost with { HostId = "Host_1" } },
        { "host_id", GoodHost with { HostId = new string('a', 64) } },
        { "cores", GoodHost with { Cores = 0 } },
        { "cores", GoodHost with { Cores = -4 } },
        { "memory_mib", GoodHost with { MemoryMiB = -1 } },
        { "memory_mib", GoodHost with { MemoryMiB = 100 } },
        { "cpu_model", GoodHost with { CpuModel = " " } },
        { "cpu_features", GoodHost with { CpuFeatures = ["AVX"] } },
        { "cpu_features", GoodHost with { CpuFeatures = ["avx", "avx"] } },
        { "hw_generation", GoodHost with { HardwareGeneration = 0 } },
        { "firmware", GoodHost with { FirmwareVersion = "v2" } },
        { "firmware", GoodHost with { FirmwareVersion = "1..2" } },
        { "kernel", GoodHost with { KernelVersion = "" } },
        { "hypervisor", GoodHost with { HypervisorVersion = "7.2.0-rc1" } },
        { "labels", GoodHost with { Labels = ImmutableDictionary<string, string>.Empty.Add("bad key", "x") } },
        { "labels", GoodHost with { Labels = ImmutableDictionary<string, string>.Empty.Add("k", new string('x', 200)) } },
    };

    public static TheoryData<string, VmSpec> BadVms => new()
    {
        { "vm_id", GoodVm with { VmId = "-vm" } },
        { "vcpus", GoodVm with { Vcpus = 0 } },
        { "vcpus", GoodVm with { Vcpus = 5000 } },
        { "memory_mib", GoodVm with { MemoryMiB = -8192 } },
        { "memory_mib", GoodVm with { MemoryMiB = 32 } },
        { "class", GoodVm with { InstanceClass = "" } },
        { "disks[0].size_gib", GoodVm with { Disks = [new DiskSpec("d1", 0)] } },
        { "disks[1].id", GoodVm with { Disks = [new DiskSpec("d1", 1), new DiskSpec("d1", 2)] } },
        { "nics[0].ip", GoodVm with { Nics = [new NicSpec("vpc-1", "10.0.0.256", "02:00:00:00:00:01")] } },
        { "nics[0].ip", GoodVm with { Nics = [new NicSpec("vpc-1", "010.0.0.1", "02:00:00:00:00:01")] } },
        { "nics[0].mac", GoodVm with { Nics = [new NicSpec("vpc-1", "10.0.0.1", "01:00:5e:00:00:01")] } },
        { "nics[0].mac", GoodVm with { Nics = [new NicSpec("vpc-1", "10.0.0.1", "02-00-00-00-00-01")] } },
        { "nics[1].ip", GoodVm with { Nics = [new NicSpec("vpc-1", "10.0.0.1", "02:00:00:00:00:01"), new NicSpec("vpc-1", "10.0.0.1", "02:00:00:00:00:02")] } },
        { "nics[0].vpc", GoodVm with { Nics = [new NicSpec("VPC", "10.0.0.1", "02:00:00:00:00:01")] } },
        { "passthrough[0].address", GoodVm with { PassthroughDevices = [new PassthroughDevice("3b:00.0", "gpu")] } },
    };

    [Fact]
    public void A_well_formed_host_and_VM_pass()
    {
        FleetValidation.ValidateHost(GoodHost);
        FleetValidation.ValidateVm(GoodVm);
    }

    [Theory]
    [MemberData(nameof(BadHosts))]
    public void A_malformed_host_is_refused_naming_the_field(string field, HostSpec spec)
    {
        var ex = Assert.Throws<OmigException>(() => FleetValidation.ValidateHost(spec));

        Assert.Equal(OmigErrorCode.InvalidArgument, ex.Code);
        Assert.Equal(field, ex.Field);
        Assert.StartsWith(field + ": ", ex.Message);
    }

    [Theory]
    [MemberData(nameof(BadVms))]
    public void A_malformed_VM_is_refused_naming_the_field(string field, VmSpec spec)
    {
        var ex = Assert.Throws<OmigException>(() => FleetValidation.ValidateVm(spec));

        Assert.Equal(field, ex.Field);
    }

    [Theory]
    [InlineData("1.2.10", "1.2.9", 1)]
    [InlineData("1.2", "1.2.0", 0)]
    [InlineData("2.0", "10.0", -1)]
    public void Versions_compare_part_by_part_as_numbers(string a, string b, int sign) =>
        Assert.Equal(sign, Math.Sign(VersionNumber.Compare(a, b)));

    [Fact]
    public void A_VM_is_incompatible_with_a_host_missing_one_of_its_CPU_features()
    {
        var reason = FleetValidation.IncompatibilityReason(GoodHost, GoodVm with { RequiredCpuFeatures = ["avx", "avx512f"] });

        Assert.NotNull(reason);
        Assert.Contains("avx512f", reason);
        Assert.Null(FleetValidation.IncompatibilityReason(GoodHost, GoodVm));
    }
}
