using Spectre.Console;
using Spectre.Console.Rendering;

namespace OrleansMigrate.Cli.Tests;

public static class Text
{
    /// <summary>What the renderable prints on a console <paramref name="width"/> columns wide, without colours.</summary>
    public static string Of(IRenderable renderable, int width = 120)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = width;
        console.Write(renderable);
        return writer.ToString();
    }
}
