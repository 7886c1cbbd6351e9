using System.Text;
using System.Text.Json.Nodes;
using OrleansMigrate.Hypervisor.Qmp;

namespace OrleansMigrate.Hypervisor.Tests.Qmp;

[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class QmpFramerTests
{
    private const string Greeting = """{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 9}, "package": ""}, "capabilities": ["oob"]}}""";
    private const string Return = """{"return": {"status": "running", "running": true}, "id": "om-7"}""";
    private const string Error = """{"error": {"class": "CommandNotFound", "desc": "The command foo has not been found"}, "id": "om-8"}""";
    private const string Event = """{"event": "MIGRATION", "data": {"status": "completed"}, "timestamp": {"seconds": 1700000000, "microseconds": 123456}}""";

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static List<QmpFrame> Drain(QmpFramer framer)
    {
        var frames = new List<QmpFrame>();
        while (framer.TryReadFrame(out var frame))
            frames.Add(frame);
        return frames;
    }

    [Fact]
    public void AnEncodedCommandIsOneCrlfTerminatedJsonObjectWithExecuteArgumentsAndId()
    {
        var bytes = QmpFramer.EncodeCommand("migrate", new JsonObject { ["uri"] = "tcp:host:4444", ["détaché"] = true }, "om-1");

        Assert.Equal("\r\n"u8.ToArray(), bytes[^2..]);
        Assert.Equal(-1, Array.IndexOf(bytes[..^2], (byte)'\n'));
        var json = Assert.IsType<JsonObject>(JsonNode.Parse(bytes));
        Assert.Equal("migrate", (string?)json["execute"]);
        Assert.Equal("tcp:host:4444", (string?)json["arguments"]!["uri"]);
        Assert.True((bool)json["arguments"]!["détaché"]!);
        Assert.Equal("om-1", (string?)json["id"]);
    }

    [Fact]
    public void ACommandWithoutArgumentsOrIdOmitsThem()
    {
        var json = Assert.IsType<JsonObject>(JsonNode.Parse(QmpFramer.EncodeCommand("qmp_capabilities")));

        Assert.Equal(["execute"], json.Select(p => p.Key));
    }

    [Fact]
    public void EachServerMessageIsClassifiedWithItsFields()
    {
        var framer = new QmpFramer();
        framer.Append(Bytes(Greeting + "\r\n" + Return + "\r\n" + Error + "\r\n" + Event + "\r\n"));

        var frames = Drain(framer);

        Assert.Equal([QmpFrameKind.Greeting, QmpFrameKind.Return, QmpFrameKind.Error, QmpFrameKind.Event], frames.Select(f => f.Kind));
        Assert.Equal(9, (int)frames[0].Greeting!["version"]!["qemu"]!["major"]!);
        Assert.Equal("om-7", frames[1].Id);
        Assert.Equal("running", (string?)frames[1].Return!["status"]);
        Assert.Equal("om-8", frames[2].Id);
        Assert.Equal("CommandNotFound", frames[2].ErrorClass);
        Assert.Equal("The command foo has not been found", frames[2].ErrorDescription);
        Assert.Equal("MIGRATION", frames[3].EventName);
        Assert.Equal("completed", (string?)frames[3].EventData!["status"]);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000).AddTicks(1_234_560), frames[3].EventTimestamp);
        Assert.Equal(0, framer.BufferedBytes);
    }

    [Fact]
    public void NonStringIdsAndMissingOrNegativeTimestampsAreTolerated()
    {
        Assert.Equal("42", QmpFramer.Parse(Bytes("""{"return": {}, "id": 42}""")).Id);
        Assert.Null(QmpFramer.Parse(Bytes("""{"return": {}}""")).Id);
        Assert.Null(QmpFramer.Parse(Bytes("""{"event": "STOP"}""")).EventTimestamp);
        Assert.Null(QmpFramer.Parse(Bytes("""{"event": "STOP", "timestamp": {"seconds": -1, "microseconds": -1}}""")).EventTimestamp);
    }

    [Fact]
    public void AFrameFedOneByteAtATimeAppearsOnlyWhenItsNewlineArrives()
    {
        var framer = new QmpFramer();
        var bytes = Bytes(Return + "\r\n");
        var frames = new List<QmpFrame>();
        foreach (var b in bytes)
        {
            framer.Append([b]);
            frames.AddRange(Drain(framer));
            if (b != (byte)'\n')
                Assert.Empty(frames);
        }

        Assert.Equal("om-7", Assert.Single(frames).Id);
    }

    [Fact]
    public void FramesSplitAcrossAndMergedWithinReadsAreAllRecovered()
    {
        var stream = Bytes(Return + "\n" + Event + "\r\n\r\n   \n" + Error + "\r\n");
        for (var cut = 1; cut < stream.Length; cut += 7)
        {
            var framer = new QmpFramer();
            framer.Append(stream.AsSpan(0, cut));
            var frames = Drain(framer);
            framer.Append(stream.AsSpan(cut));
            frames.AddRange(Drain(framer));

            Assert.Equal([QmpFrameKind.Return, QmpFrameKind.Event, QmpFrameKind.Error], frames.Select(f => f.Kind));
        }
    }

    [Theory]
    [InlineData("{\"return\": {}", QmpFramingError.MalformedJson)]
    [InlineData("not json", QmpFramingError.MalformedJson)]
    [InlineData("{\"return\": {}, \"return\": 1}", QmpFramingError.MalformedJson)]
    [InlineData("[1, 2]", QmpFramingError.NotAnObject)]
    [InlineData("\"QMP\"", QmpFramingError.NotAnObject)]
    [InlineData("null", QmpFramingError.NotAnObject)]
    [InlineData("17", QmpFramingError.NotAnObject)]
    [InlineData("{\"hello\": 1}", QmpFramingError.UnrecognizedMessage)]
    [InlineData("{\"QMP\": 3}", QmpFramingError.UnrecognizedMessage)]
    [InlineData("{\"error\": {\"class\": \"GenericError\"}}", QmpFramingError.UnrecognizedMessage)]
    [InlineData("{\"event\": 5}", QmpFramingError.UnrecognizedMessage)]
    [InlineData("{\"event\": \"STOP\", \"data\": [1]}", QmpFramingError.UnrecognizedMessage)]
    public void ABadLineIsRejectedWithItsReasonAndTheNextFrameStillParses(string line, QmpFramingError expected)
    {
        var framer = new QmpFramer();
        framer.Append(Bytes(line + "\r\n" + Return + "\r\n"));

        var error = Assert.Throws<QmpFramingException>(() => framer.TryReadFrame(out _));

        Assert.Equal(expected, error.Error);
        Assert.Equal("om-7", Assert.Single(Drain(framer)).Id);
    }

    [Fact]
    public void InvalidUtf8IsMalformedJson()
    {
        var framer = new QmpFramer();
        framer.Append([.. "{\"event\": \""u8, 0xC3, 0x28, .. "\"}\n"u8]);

        Assert.Equal(QmpFramingError.MalformedJson, Assert.Throws<QmpFramingException>(() => framer.TryReadFrame(out _)).Error);
    }

    [Fact]
    public void AFrameOfExactlyTheLimitIsAcceptedEvenWhileItsCrWaitsForTheLf()
    {
        const string Line = """{"return": {}, "id": "x"}""";
        var framer = new QmpFramer(maxFrameBytes: Line.Length);

        framer.Append(Bytes(Line + "\r"));
        Assert.False(framer.TryReadFrame(out _));
        framer.Append("\n"u8);

        Assert.Equal("x", Assert.Single(Drain(framer)).Id);
    }

    [Fact]
    public void ATerminatedFrameOverTheLimitIsRejectedAndFaultsTheFramer()
    {
        var framer = new QmpFramer(maxFrameBytes: 16);
        framer.Append(Bytes(Return + "\n"));

        Assert.Equal(QmpFramingError.FrameTooLarge, Assert.Throws<QmpFramingException>(() => framer.TryReadFrame(out _)).Error);
        Assert.Equal(QmpFramingError.FrameTooLarge, Assert.Throws<QmpFramingException>(() => framer.Append("{}\n"u8)).Error);
    }

    [Fact]
    public void AnUnterminatedFrameIsRejectedAsSoonAsItPassesTheLimit()
    {
        var framer = new QmpFramer(maxFrameBytes: 1024);
        var chunk = new byte[100];
        chunk.AsSpan().Fill((byte)' ');
        var rejected = false;
        for (var i = 0; i < 20 && !rejected; i++)
        {
            framer.Append(chunk);
            try
            {
                Assert.False(framer.TryReadFrame(out _));
            }
            catch (QmpFramingException ex) when (ex.Error == QmpFramingError.FrameTooLarge)
            {
                rejected = true;
                Assert.True(i >= 10, "rejected before passing the limit");
            }
        }

        Assert.True(rejected);
    }

    [Fact]
    public void ReturnAndEventNodesAreDetachedSoCallersCanReparentThem()
    {
        var ret = QmpFramer.Parse(Bytes(Return)).Return!;
        var data = QmpFramer.Parse(Bytes(Event)).EventData!;

        var holder = new JsonObject { ["ret"] = ret, ["data"] = data };

        Assert.Equal("completed", (string?)holder["data"]!["status"]);
    }

    [Fact]
    public void RandomBytesEitherParseOrThrowTheFramingExceptionAndNeverHang()
    {
        // Fragments of real frames spliced with noise reach deeper into the parser than pure noise.
        string[] pieces = [Greeting, Return, Error, Event, "{", "}", "[", "\"", ":", ",", "\r\n", "\n", "null", "\"return\"", "\"event\"", "\\u00", "1e999"];
        var random = new Random(20261125);
        var parsed = 0;
        var rejected = 0;
        for (var round = 0; round < 400; round++)
        {
            var input = new List<byte>();
            var parts = random.Next(1, 12);
            for (var p = 0; p < parts; p++)
            {
                var choice = random.Next(3);
                if (choice == 0)
                {
                    var noise = new byte[random.Next(1, 40)];
                    random.NextBytes(noise);
                    input.AddRange(noise);
                }
                else if (choice == 1)
                {
                    input.AddRange(Bytes(pieces[random.Next(4)] + "\r\n"));
                }
                else
                {
                    var piece = Bytes(pieces[random.Next(pieces.Length)]);
                    var start = random.Next(piece.Length);
                    input.AddRange(piece.AsSpan(start, random.Next(piece.Length - start + 1)).ToArray());
                }
            }

            var bytes = input.ToArray();
            var framer = new QmpFramer(maxFrameBytes: 256);
            var offset = 0;
            var faulted = false;
            while (offset < bytes.Length && !faulted)
            {
                var take = Math.Min(bytes.Length - offset, random.Next(1, 64));
                framer.Append(bytes.AsSpan(offset, take));
                offset += take;

                // Each call consumes a line or returns false, so bytes.Length + 1 calls always suffice.
                for (var attempt = 0; attempt <= bytes.Length; attempt++)
                {
                    try
                    {
                        if (!framer.TryReadFrame(out _))
                            break;
                        parsed++;
                    }
                    catch (QmpFramingException ex)
                    {
                        rejected++;
                        if (ex.Error == QmpFramingError.FrameTooLarge)
                        {
                            faulted = true;
                            break;
                        }
                    }
                }
            }
        }

        Assert.True(parsed > 0 && rejected > 0, $"parsed {parsed}, rejected {rejected}: the input mix exercised only one path");
    }
}
