using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace OrleansMigrate.Grains.Operations;

/// <summary>Tells a VM's owner that a fleet operation is about to move it (policies with <c>NotifyOwner</c>).</summary>
/// <param name="Owner">The VM's label <c>owner</c>, else <c>tenant</c>, else "unknown".</param>
public sealed record OwnerNotice(string VmId, string Owner, string Operation, string Policy, DateTimeOffset At);

/// <summary>Where owner notices go. A notice that fails holds the VM back: it is not moved without one.</summary>
public interface IOwnerNotifier
{
    Task NotifyAsync(OwnerNotice notice, CancellationToken cancellationToken);
}

/// <summary>
/// The default: every notice is logged (Information, category <c>OrleansMigrate.Grains.Operations.OwnerNotifier</c>) and
/// the last 1,000 are kept for inspection; with <see cref="MaintenanceOptions.NotifyCommand"/> set, the command also runs
/// as <c>COMMAND VM OWNER OPERATION POLICY</c> (no shell; exit 0 = delivered, killed after the maintenance timeout).
/// </summary>
public sealed partial class OwnerNotifier(MaintenanceOptions options, ILogger<OwnerNotifier> logger) : IOwnerNotifier
{
    private readonly ConcurrentQueue<OwnerNotice> _sent = new();

    /// <summary>The last notices sent, oldest first.</summary>
    public IReadOnlyCollection<OwnerNotice> Sent => _sent;

    public async Task NotifyAsync(OwnerNotice notice, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notice);
        if (options.NotifyCommand is { Length: > 0 } command)
        {
            var psi = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { notice.VmId, notice.Owner, notice.Operation, notice.Policy })
            {
                psi.ArgumentList.Add(a);
            }

            using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {command}");
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            _ = process.StandardOutput.ReadToEndAsync(cancellationToken);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(TimeSpan.FromSeconds(options.TimeoutSeconds));
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"owner notice command did not finish within {options.TimeoutSeconds} s; killed"));
            }

            if (process.ExitCode != 0)
            {
                var err = (await stderr).Trim();
                throw new InvalidOperationException($"owner notice command exited {process.ExitCode}: {(err.Length > 300 ? err[^300..] : err)}");
            }
        }

        LogNotice(logger, notice.VmId, notice.Owner, notice.Operation, notice.Policy);
        _sent.Enqueue(notice);
        while (_sent.Count > 1000 && _sent.TryDequeue(out _))
        {
        }
    }

    public static string OwnerOf(OrleansMigrate.Fleet.VmSpec vm) =>
        vm.Labels.TryGetValue("owner", out var owner) ? owner : vm.Labels.TryGetValue("tenant", out var tenant) ? tenant : "unknown";

    [LoggerMessage(EventId = 5201, Level = LogLevel.Information, Message = "Owner notice: VM {VmId} (owner {Owner}) is about to be moved by {Operation} (policy {Policy})")]
    private static partial void LogNotice(ILogger logger, string vmId, string owner, string operation, string policy);
}
