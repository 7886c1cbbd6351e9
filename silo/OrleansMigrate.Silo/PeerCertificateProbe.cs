using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace OrleansMigrate.Silo;

/// <summary>
/// Before a TLS silo joins, asks the cluster's active silos whether they accept its certificate: a TLS handshake to
/// each one's silo port presenting this silo's certificate. A silo whose certificate the cluster's CA did not issue
/// would otherwise write its membership row, be declared dead by peers that cannot reach it, and be killed.
/// </summary>
internal static class PeerCertificateProbe
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan VerdictTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How many peers answered a handshake and how many of those refused the certificate.</summary>
    public static async Task<(int Answered, int Refused)> AskAsync(IEnumerable<IPEndPoint> peers, X509Certificate2 certificate, CancellationToken cancellationToken)
    {
        var results = await Task.WhenAll(peers.Take(3).Select(p => AskOneAsync(p, certificate, cancellationToken)));
        return (results.Count(r => r is not null), results.Count(r => r == true));
    }

    /// <summary>True: the peer refused the certificate; false: it accepted it; null: it did not answer a handshake.</summary>
    private static async Task<bool?> AskOneAsync(IPEndPoint peer, X509Certificate2 certificate, CancellationToken cancellationToken)
    {
        using var tcp = new TcpClient(peer.AddressFamily);
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connect.CancelAfter(ConnectTimeout);
            try
            {
                await tcp.ConnectAsync(peer, connect.Token);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                return null;
            }
        }

        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        using var verdict = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        verdict.CancelAfter(VerdictTimeout + ConnectTimeout);
        try
        {
            // Only the peer's verdict on our certificate is asked here; the silo checks the peer's own certificate when it joins.
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = peer.Address.ToString(),
                ClientCertificates = [certificate],
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, verdict.Token);
        }
        catch (AuthenticationException)
        {
            return true;
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }

        // With TLS 1.3 the server judges the client's certificate after the client's side of the handshake is done: its
        // refusal arrives as an alert (or a closed connection) on the first read. A peer that accepted waits for our
        // preamble and sends nothing.
        using var read = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        read.CancelAfter(VerdictTimeout);
        try
        {
            var n = await tls.ReadAsync(new byte[1], read.Token);
            return n == 0;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            return true;
        }
    }
}
