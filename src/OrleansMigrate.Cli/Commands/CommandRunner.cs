using System.CommandLine;
using OrleansMigrate.Client;
using OrleansMigrate.Cli.Output;
using OrleansMigrate.Errors;
using Spectre.Console;

namespace OrleansMigrate.Cli.Commands;

/// <summary>Connects, runs one command, and turns every failure into a message and an exit code.</summary>
public static class CommandRunner
{
    /// <summary>The exit code (see <see cref="ExitCodes"/>) of an error.</summary>
    public static int ExitCode(OmigErrorCode code) => code switch
    {
        OmigErrorCode.InvalidArgument => ExitCodes.InvalidInput,
        OmigErrorCode.NotFound => ExitCodes.NotFound,
        OmigErrorCode.Conflict => ExitCodes.Conflict,
        OmigErrorCode.InsufficientCapacity => ExitCodes.InsufficientCapacity,
        OmigErrorCode.Incompatible => ExitCodes.Incompatible,
        OmigErrorCode.Unavailable => ExitCodes.Unavailable,
        OmigErrorCode.Aborted => ExitCodes.NotCompleted,
        _ => ExitCodes.Unexpected,
    };

    public static void SetClientAction(this Command command, Func<ParseResult, OmigClient, CancellationToken, Task<int>> action) =>
        command.SetAction(async (parse, ct) => await RunAsync(parse, ct, async () =>
        {
            await using var client = await OmigClient.ConnectAsync(GlobalOptions.ClientOptions(parse), ct);
            return await action(parse, client, ct);
        }));

    public static void SetLocalAction(this Command command, Func<ParseResult, CancellationToken, Task<int>> action) =>
        command.SetAction(async (parse, ct) => await RunAsync(parse, ct, () => action(parse, ct)));

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (OmigException ex)
        {
            return Fail(ExitCode(ex.Code), ex.Message);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return Fail(ExitCodes.Cancelled, "cancelled");
        }
        catch (Exception ex) when (ex is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException or Orleans.Runtime.Messaging.ConnectionFailedException)
        {
            return Fail(ExitCodes.Unavailable, $"the cluster did not answer: {ex.Message}");
        }
        catch (Exception ex)
        {
            return Fail(ExitCodes.Unexpected, ex.GetBaseException().Message);
        }
    }

    public static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"omig: error: {message}");
        return code;
    }

    /// <summary>Prints <paramref name="value"/> as JSON under <c>--json</c>, writes it to PATH under <c>--json PATH</c>
    /// (and shows the table), else shows the table.</summary>
    public static void Print<T>(ParseResult parse, T value, Func<T, Spectre.Console.Rendering.IRenderable> table)
    {
        if (GlobalOptions.JsonToConsole(parse))
        {
            Console.Out.WriteLine(Json.Serialize(value));
            return;
        }

        AnsiConsole.Write(table(value));
        if (GlobalOptions.JsonPath(parse) is { } path)
        {
            File.WriteAllText(path, Json.Serialize(value));
            AnsiConsole.MarkupLine($"JSON written to [bold]{Markup.Escape(path)}[/]");
        }
    }

    /// <summary>Follows a long operation without a terminal for progress bars: a summary line on stderr whenever it
    /// changes (none when <paramref name="quiet"/>), until <paramref name="done"/>.</summary>
    public static async Task<T> FollowByLinesAsync<T>(T status, Func<T, bool> done, Func<T, string> summary, Func<T, Task<T>> refresh,
        TimeSpan period, bool quiet, CancellationToken ct)
    {
        var last = "";
        while (!done(status))
        {
            var line = summary(status);
            if (line != last && !quiet)
            {
                Console.Error.WriteLine(line);
                last = line;
            }

            await Task.Delay(period, ct);
            status = await refresh(status);
        }

        return status;
    }
}
