using OrleansMigrate.Hypervisor.Framing;
using OrleansMigrate.Hypervisor.Sessions;
using OrleansMigrate.Hypervisor.Simulated;

namespace OrleansMigrate.Hypervisor.Tests.Simulated;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class DeviceStateTests
{
    private static readonly SimulatedDeviceState State = new(4, 8192, 77, ContentMix.Default, 12345, 12345, 0xABCDEF, new SessionTableDigest(10, 99), SimulatedDeviceState.SizeFor(4096, 4));

    [Fact]
    public void DeviceStateRoundTripsWithItsManifest()
    {
        var blob = State.Encode();

        Assert.Equal(State, SimulatedDeviceState.Decode(blob));
    }

    [Fact]
    public void TamperedDeviceStateIsRejected()
    {
        var blob = State.Encode();
        blob[blob.Length / 2] ^= 0x80;

        Assert.Throws<FrameFormatException>(() => SimulatedDeviceState.Decode(blob));
    }
}
