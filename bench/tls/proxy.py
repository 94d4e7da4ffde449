"""A TLS-terminating TCP proxy on 127.0.0.1 for the benchmark's `tls` section.

kms-sim speaks plain HTTP; real KMS speaks HTTPS. This proxy puts a TLS endpoint (TLS 1.2/1.3,
the certificate chain given on the command line) in front of kms-sim so that both functions pay
for certificate-store loading and the TLS handshake as they would against KMS. The proxy is the
same for both functions, so its own cost cancels out in the comparison.

usage: python proxy.py CERT_CHAIN_PEM KEY_PEM UPSTREAM_PORT
Prints "listening PORT" on stdout once it accepts connections; runs until killed.
"""

import asyncio
import ssl
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - closing a broken transport
            pass


async def main():
    cert, key, upstream = sys.argv[1], sys.argv[2], int(sys.argv[3])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
