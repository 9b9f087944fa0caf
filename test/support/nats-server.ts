import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";
import { until } from "./until.js";

export interface TestNatsServer {
  url: string;
  stop(): Promise<void>;
}

/** A JetStream server of the test's own (on a free port, its store in a temporary folder), for isolation or to stop. */
export async function startTestNatsServer(): Promise<TestNatsServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(path.join(tmpdir(), "nats-"));
  const server = spawn("/usr/sbin/nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => server.once("exit", () => resolve()));
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
  await until(accepts, 10_000, "the test NATS server listening");
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      server.kill("SIGTERM");
      await exited;
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
