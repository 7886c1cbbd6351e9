using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OrleansMigrate.Hypervisor.Qemu;

/// <summary>
/// What <c>omig vm qmp</c> may pass to a VM's QEMU. By default only commands that read state, plus
/// <c>stop</c>/<c>cont</c> and the dirty-rate probe: nothing that ends the process (<c>quit</c>), touches
/// files or devices, or drives a migration behind the control plane's back. Operators add commands with
/// <see cref="QemuDriverOptions.QmpAllow"/>; <c>human-monitor-command</c> needs <see cref="QemuDriverOptions.AllowHumanMonitor"/>.
/// </summary>
public static class QmpAllowList
{
    /// <summary>Largest command text accepted, in bytes.</summary>
    public const int MaxCommandBytes = 16 * 1024;

    /// <summary>Commands that never pass, whatever the configuration says.</summary>
    public static readonly FrozenSet<string> Never = new[]
    {
        "quit", "qmp_capabilities", "migrate", "migrate-incoming", "migrate-continue", "migrate_cancel", "migrate-recover",
        "migrate-pause", "migrate-set-capabilities", "migrate-set-parameters", "add-fd", "getfd", "closefd", "pmemsave", "memsave",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The default allow-list.</summary>
    public static readonly FrozenSet<string> Default = new[]
    {
        "query-status", "query-name", "query-uuid", "query-version", "query-kvm", "query-machines", "query-commands",
        "query-cpus-fast", "query-memory-size-summary", "query-block", "query-blockstats", "query-migrate",
        "query-migrate-parameters", "query-migrate-capabilities", "query-dirty-rate", "calc-dirty-rate",
        "query-balloon", "query-iothreads", "query-chardev", "query-pci", "qom-list", "stop", "cont",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>True when <paramref name="command"/> passes under <paramref name="options"/>.</summary>
    public static bool IsAllowed(string command, QemuDriverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (Never.Contains(command))
            return false;
        if (command == "human-monitor-command")
            return options.AllowHumanMonitor;
        return Default.Contains(command) || options.QmpAllow.Contains(command, StringComparer.Ordinal);
    }

    /// <summary>
    /// Parses <c>{"execute": NAME, "arguments": {…}}</c> (nothing else) and checks the command is allowed.
    /// </summary>
    /// <exception cref="ArgumentException">Names what is wrong: not JSON, not one object, unknown members, a bad name, or a refused command.</exception>
    public static (string Command, JsonObject? Arguments) Parse(string text, QemuDriverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(text))
            throw new ArgumentException("the QMP command is empty", "command");
        if (System.Text.Encoding.UTF8.GetByteCount(text) > MaxCommandBytes)
            throw new ArgumentException($"the QMP command is over {MaxCommandBytes} bytes", "command");
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"the QMP command is not JSON: {ex.Message}", "command", ex);
        }

        // JsonNode keeps duplicate members until something enumerates them, then throws .NET's dictionary text.
        if (DuplicateMember(text) is { } duplicate)
            throw new ArgumentException($"the QMP command has the member '{duplicate}' more than once in one object", "command");

        if (node is not JsonObject obj)
            throw new ArgumentException("the QMP command must be a JSON object like {\"execute\":\"query-status\"}", "command");
        foreach (var (key, _) in obj)
        {
            if (key is not ("execute" or "arguments"))
                throw new ArgumentException($"the QMP command has a member '{key}': only \"execute\" and \"arguments\" are allowed", "command");
        }

        if (obj["execute"] is not JsonValue nameValue || !nameValue.TryGetValue<string>(out var command) || !QemuNames.IsCommand(command))
            throw new ArgumentException("\"execute\" must be a QMP command name (lowercase letters, digits, '-' and '_')", "command");
        JsonObject? arguments = null;
        if (obj["arguments"] is { } args)
        {
            arguments = args as JsonObject ?? throw new ArgumentException("\"arguments\" must be a JSON object", "command");
            obj.Remove("arguments");
        }

        if (!IsAllowed(command, options))
            throw new ArgumentException($"QMP command '{command}' is not allowed through the passthrough (allowed: {string.Join(", ", Default.Order(StringComparer.Ordinal))}{(options.QmpAllow.Count > 0 ? ", " + string.Join(", ", options.QmpAllow) : string.Empty)}; configure Qemu:QmpAllow or Qemu:AllowHumanMonitor to add)", "command");
        return (command, arguments);
    }

    /// <summary>The first member name that occurs twice in one object of <paramref name="text"/>, when the text is
    /// otherwise well-formed JSON; null otherwise.</summary>
    private static string? DuplicateMember(string text)
    {
        try
        {
            var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(text), new JsonReaderOptions { MaxDepth = 32 });
            var scopes = new Stack<HashSet<string>?>();
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        scopes.Push(new HashSet<string>(StringComparer.Ordinal));
                        break;
                    case JsonTokenType.StartArray:
                        scopes.Push(null);
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        scopes.Pop();
                        break;
                    case JsonTokenType.PropertyName when scopes.Peek() is { } names && !names.Add(reader.GetString()!):
                        return reader.GetString();
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return null;
    }
}
