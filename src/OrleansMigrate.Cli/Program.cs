using OrleansMigrate.Cli;
using OrleansMigrate.Cli.Commands;
using Spectre.Console;

// Piped output has no terminal width; tables would wrap at 80 columns and split ids.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 200;
}

var parse = OmigCommandLine.Build().Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine($"omig: error: {error.Message}");
    }

    Console.Error.WriteLine("Run 'omig --help' for usage.");
    return ExitCodes.InvalidInput;
}

return await parse.InvokeAsync();
