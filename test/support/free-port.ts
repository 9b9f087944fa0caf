import { once } from "node:events";
import { createServer } from "node:net";

/** A port nothing listens on right now (for a server whose port must be known before it starts). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  return typeof address === "object" && address ? address.port : 0;
}
