import { once } from "node:events";
import { createServer } from "node:net";

/** A port free on 127.0.0.1 right now, for a process or a restart that must listen on the same port twice. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  return typeof address === "object" && address ? address.port : 0;
}
