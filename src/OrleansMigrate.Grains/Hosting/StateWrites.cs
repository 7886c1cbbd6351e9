namespace OrleansMigrate.Grains.Hosting;

/// <summary>
/// How a grain writes its state so that memory never runs ahead of storage, nor stays behind it. A failed write
/// reverts the change in memory (the caller hears the failure and retries). A version conflict means the stored row
/// moved on without this activation — typically its own earlier write landed although PostgreSQL crashed before
/// answering — so its ETag is stale and every later write would fail the same way, while memory (reverted) would lack
/// what is stored: the activation reads the stored state back, and the caller's retry sees the truth.
/// </summary>
public static class StateWrites
{
    public static async Task WriteOrRevertAsync<T>(this IPersistentState<T> state, Action revert)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch (Orleans.Storage.InconsistentStateException)
        {
            revert();
            try
            {
                await state.ReadStateAsync();
            }
            catch (Exception)
            {
                // The database is still away: the next write conflicts again and reads again.
            }

            throw;
        }
        catch
        {
            revert();
            throw;
        }
    }
}
