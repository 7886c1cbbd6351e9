using OrleansMigrate.Errors;

namespace OrleansMigrate.Cli.Bench;

/// <summary>The guest options the real-QEMU benches share (<c>qemu</c>, <c>multifd</c>, <c>postcopy</c>), checked and resolved one way.</summary>
public static partial class BenchCommands
{
    /// <summary>Refuses, naming the option, guest settings out of range: memory, warm-up, the built guest's pages and delay
    /// (and that the memory holds the pages), the accelerator.</summary>
    private static void CheckGuest(int memoryMiB, int warmMs, int guestPages, int guestDelay, string accelerator)
    {
        if (memoryMiB is < 64 or > 4096)
        {
            throw OmigException.Invalid("--memory", $"must be between 64 and 4096 MiB, got {memoryMiB}");
        }

        if (warmMs is < 100 or > 60_000)
        {
            throw OmigException.Invalid("--warm-ms", $"must be between 100 and 60000, got {warmMs}");
        }

        if (guestPages is < 1 or > 65536)
        {
            throw OmigException.Invalid("--guest-pages", $"must be between 1 and 65536, got {guestPages}");
        }

        if (guestDelay is < 1 or > 100_000_000)
        {
            throw OmigException.Invalid("--guest-delay", $"must be between 1 and 100000000, got {guestDelay}");
        }

        if (memoryMiB * 256L < guestPages + 512)
        {
            throw OmigException.Invalid("--memory", $"{memoryMiB} MiB cannot hold the guest's {guestPages} pages above 1 MiB");
        }

        if (accelerator is not ("auto" or "kvm" or "tcg"))
        {
            throw OmigException.Invalid("--accel", $"must be auto, kvm or tcg, got '{accelerator}'");
        }
    }

    /// <summary>The guest image: the one given (which must exist), else guest/dirty-guest.S built with those pages and delay;
    /// with the description the JSON carries.</summary>
    private static async Task<(string Path, string Description)> GuestAsync(string? image, int guestPages, int guestDelay, CancellationToken ct)
    {
        var guest = image is { } given ? Path.GetFullPath(given) : await GuestImage.BuildAsync(guestPages, guestDelay, ct);
        if (!File.Exists(guest))
        {
            throw OmigException.Invalid("--image", $"'{guest}' does not exist");
        }

        return (guest, image is null
            ? $"guest/dirty-guest.S: {guestPages} pages ({guestPages * 4 / 1024.0:0.#} MiB) dirtied in turn, {guestDelay} loop iterations between pages"
            : guest);
    }
}
