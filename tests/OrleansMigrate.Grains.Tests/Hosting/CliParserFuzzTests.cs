using System.Text;
using OrleansMigrate.Client.Parsing;
using OrleansMigrate.Errors;

namespace OrleansMigrate.Tests.Hosting;

/// <summary>
/// Seeded fuzzing of the CLI's value parsers (memory sizes, labels, disks, NICs, pass-through devices): any text is
/// either parsed or refused with an invalid-argument error that names the flag — never another exception.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Unit)]
public sealed class CliParserFuzzTests
{
    private static readonly string[] Seeds =
    [
        "4096", "4G", "512M", "1T", "-4G", "0", "99999999999999999999G", "rack=r1", "a=b=c", "=x", "web-1-root:40", "d:0",
        "vpc-1:10.0.0.5", "vpc-1:10.0.0.5:02:00:00:00:00:01", "vpc-1:300.1.1.1", "0000:3b:00.0=gpu", "0000:zz:00.0=nic", "",
    ];

    [Theory]
    [InlineData(41)]
    [InlineData(42)]
    public void Every_parser_either_parses_or_names_the_flag(int seed)
    {
        var random = new Random(seed);
        int parsed = 0, refused = 0;
        for (var i = 0; i < 4000; i++)
        {
            var text = Mutate(random, Seeds[random.Next(Seeds.Length)]);
            foreach (var (flag, parse) in new (string, Action)[]
            {
                ("--memory", () => CliParsers.ParseMemoryMiB("--memory", text)),
                ("--label", () => CliParsers.ParseLabels("--label", [text])),
                ("--disk", () => CliParsers.ParseDisk(text)),
                ("--nic", () => CliParsers.ParseNic(text, "vm-1")),
                ("--passthrough", () => CliParsers.ParsePassthrough(text)),
            })
            {
                try
                {
                    parse();
                    parsed++;
                }
                catch (OmigException ex) when (ex.Code == OmigErrorCode.InvalidArgument)
                {
                    Assert.False(string.IsNullOrWhiteSpace(ex.Reason), $"{flag} '{text}': an error without a reason");
                    refused++;
                }
            }
        }

        Assert.True(parsed > 0 && refused > 0, $"the corpus exercises both paths ({parsed} parsed, {refused} refused)");
    }

    private static string Mutate(Random random, string input)
    {
        var sb = new StringBuilder(input);
        for (var n = random.Next(0, 4); n > 0; n--)
        {
            const string Alphabet = "0123456789abcdefGMTx:=.,-_ \t\0\u00e9\ud83d\ude00/\\\"'";
            var at = sb.Length == 0 ? 0 : random.Next(sb.Length);
            switch (random.Next(3))
            {
                case 0 when sb.Length > 0:
                    sb.Remove(at, 1);
                    break;
                case 1:
                    sb.Insert(at, Alphabet[random.Next(Alphabet.Length)]);
                    break;
                default:
                    sb.Insert(at, new string('9', random.Next(1, 30)));
                    break;
            }
        }

        return sb.ToString();
    }
}
