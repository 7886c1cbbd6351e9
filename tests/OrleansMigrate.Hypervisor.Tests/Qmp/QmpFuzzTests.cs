using System.Text;
using OrleansMigrate.Hypervisor.Qemu;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Tests.Qmp;

/// <summary>
/// Seeded fuzzing of everything that parses what a QEMU (or an operator) sends us: the QMP framer, the frame parser
/// and the passthrough's command parser. Hostile bytes may only ever end in the documented exception, never in
/// another one, a hang or unbounded buffering. Fixed seeds, so a failure reproduces.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class QmpFuzzTests
{
    private static readonly string[] Valid =
    [
        """{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}""",
        """{"return": {}, "id": "om-1"}""",
        """{"return": {"status": "running", "singlestep": false, "running": true}, "id": "om-2"}""",
        """{"error": {"class": "GenericError", "desc": "Parameter 'x' is missing"}, "id": "om-3"}""",
        """{"timestamp": {"seconds": 1795642285, "microseconds": 35567}, "event": "MIGRATION", "data": {"status": "pre-switchover"}}""",
        """{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}""",
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void The_framer_survives_mutated_and_random_byte_streams(int seed)
    {
        var random = new Random(seed);
        const int MaxFrame = 4096;
        var framer = new QmpFramer(MaxFrame);
        long frames = 0, refusals = 0;
        for (var i = 0; i < 3000; i++)
        {
            var chunk = Mutate(random, NextStream(random));
            try
            {
                framer.Append(chunk);
                while (framer.TryReadFrame(out var frame))
                {
                    Assert.NotNull(frame);
                    frames++;
                }
            }
            catch (QmpFramingException)
            {
                // A connection ends at the first framing error: start over, as the client does.
                refusals++;
                framer = new QmpFramer(MaxFrame);
            }

            Assert.True(framer.BufferedBytes <= MaxFrame + chunk.Length, $"buffered {framer.BufferedBytes} bytes after chunk {i}");
        }

        Assert.True(frames > 0 && refusals > 0, $"the corpus exercises both paths ({frames} frames, {refusals} refusals)");
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void The_frame_parser_only_ever_refuses_with_a_framing_error(int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < 5000; i++)
        {
            var bytes = Mutate(random, Encoding.UTF8.GetBytes(Valid[random.Next(Valid.Length)]));
            try
            {
                QmpFramer.Parse(bytes);
            }
            catch (QmpFramingException)
            {
            }
        }
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    public void The_passthrough_parser_only_ever_refuses_with_an_argument_error(int seed)
    {
        var random = new Random(seed);
        string[] seeds =
        [
            """{"execute":"query-status"}""",
            """{"execute":"human-monitor-command","arguments":{"command-line":"xp /3wx 0x600"}}""",
            """{"execute":"calc-dirty-rate","arguments":{"calc-time":1}}""",
            """{"execute":"quit"}""",
        ];
        var options = new QemuDriverOptions();
        int accepted = 0, refused = 0;
        for (var i = 0; i < 5000; i++)
        {
            var text = Encoding.UTF8.GetString(Mutate(random, Encoding.UTF8.GetBytes(seeds[random.Next(seeds.Length)])));
            try
            {
                var (command, _) = QmpAllowList.Parse(text, options);
                Assert.True(QmpAllowList.IsAllowed(command, options), $"'{command}' passed but is not allowed");
                accepted++;
            }
            catch (ArgumentException ex)
            {
                Assert.False(string.IsNullOrWhiteSpace(ex.Message));
                refused++;
            }
        }

        Assert.True(accepted > 0 && refused > 0, $"the corpus exercises both paths ({accepted} accepted, {refused} refused)");
    }

    private static byte[] NextStream(Random random)
    {
        switch (random.Next(5))
        {
            case 0:
                var junk = new byte[random.Next(1, 600)];
                random.NextBytes(junk);
                return junk;
            case 1:
                return Encoding.UTF8.GetBytes(new string('x', random.Next(1, 9000)));
            default:
                var sb = new StringBuilder();
                for (var n = random.Next(1, 4); n > 0; n--)
                {
                    sb.Append(Valid[random.Next(Valid.Length)]).Append(random.Next(4) == 0 ? "\n" : "\r\n");
                }

                return Encoding.UTF8.GetBytes(sb.ToString());
        }
    }

    /// <summary>Flips, inserts, deletes or truncates a few bytes (or none).</summary>
    private static byte[] Mutate(Random random, byte[] input)
    {
        var bytes = new List<byte>(input);
        for (var n = random.Next(0, 4); n > 0 && bytes.Count > 0; n--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(4))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    const string Specials = "{}[]\":,\\\n\0\u00ff";
                    bytes.Insert(at, (byte)Specials[random.Next(Specials.Length)]);
                    break;
                case 2:
                    bytes.RemoveAt(at);
                    break;
                default:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
            }
        }

        return [.. bytes];
    }
}
