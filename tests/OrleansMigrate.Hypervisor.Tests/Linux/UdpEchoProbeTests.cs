using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using OrleansMigrate.Hypervisor.Linux.Guest;
using OrleansMigrate.Testing;

namespace OrleansMigrate.Hypervisor.Tests.Linux;

/// <summary>The UDP echo probe against an echo on loopback that answers like the lab guest's agent (seq echoed, trailer
/// appended) for the first echoes only: a guest that falls silent for good reports that silence as its longest gap.</summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class UdpEchoProbeTests
{
    [Fact]
    public async Task A_guest_that_falls_silent_reports_the_silence_to_the_end_as_its_longest_gap()
    {
        using var echo = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        echo.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = Task.Run(async () =>
        {
            var buffer = new byte[2048];
            while (!stop.IsCancellationRequested)
            {
                SocketReceiveFromResult r;
                try
                {
                    r = await echo.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                // Answers echoes 0..49 only: silent from then on, like a guest that died.
                if (BinaryPrimitives.ReadUInt64BigEndian(buffer) >= 50)
                    continue;
                var reply = new byte[r.ReceivedBytes + GuestTrailer.Size];
                buffer.AsSpan(0, r.ReceivedBytes).CopyTo(reply);
                BinaryPrimitives.WriteUInt64BigEndian(reply.AsSpan(r.ReceivedBytes), 7);
                BinaryPrimitives.WriteUInt64BigEndian(reply.AsSpan(r.ReceivedBytes + 8), 0xB007);
                BinaryPrimitives.WriteUInt64BigEndian(reply.AsSpan(r.ReceivedBytes + 16), 1);
                await echo.SendToAsync(reply, SocketFlags.None, r.RemoteEndPoint);
            }
        });

        // 400 echoes at 200/s: answered for the first 250 ms, silent for the last 1.75 s (far longer than any stall of a
        // loaded machine between two early replies; the echo itself may answer its first echoes half a second late).
        var report = await UdpEchoProbe.RunAsync(new UdpEchoProbeOptions
        {
            Target = (IPEndPoint)echo.LocalEndPoint!, RatePerSecond = 200, Count = 400, ReplyGrace = TimeSpan.FromMilliseconds(200),
        });
        stop.Cancel();
        await server;

        Assert.Equal(400, report.Sent);
        Assert.Equal(350, report.LostCount);
        Assert.True(report.LongestGapAfterSeq == 49 && report.LongestGap >= TimeSpan.FromMilliseconds(500), report.ToString());
        Assert.Equal(7UL, report.LastDurableSeq);
    }
}
