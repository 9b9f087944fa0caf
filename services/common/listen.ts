import type { AddressInfo, Server } from "node:net";

/** Starts `server` listening; resolves with the bound port (0 asks for a free one), rejects if binding fails. */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
