import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";
import { until } from "./until.js";

export interface TestNatsServer {
  url: string;
  /** Stops the server (SIGTERM), keeping its JetStream store: streams, durables and unacked messages. */
  halt(): Promise<void>;
  /** Starts it again on the same port and store, after `halt`. */
  resume(): Promise<void>;
  /** Stops it and deletes its store. */
  stop(): Promise<void>;
}

/** A JetStream server of the test's own (on a free port, its store in a temporary folder), for isolation or to stop. */
export async function startTestNatsServer(): Promise<TestNatsServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(path.join(tmpdir(), "nats-"));
  let running: { server: ChildProcess; exited: Promise<void> } | undefined;
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
  const start = async () => {
    const server = spawn("/usr/sbin/nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], { stdio: "ignore" });
    running = { server, exited: new Promise<void>((resolve) => server.once("exit", () => resolve())) };
    await until(accepts, 10_000, "the test NATS server listening");
  };
  const halt = async () => {
    if (!running) return;
    const { server, exited } = running;
    running = undefined;
    server.kill("SIGTERM");
    await exited;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    halt,
    async resume() {
      if (!running) await start();
    },
    async stop() {
      await halt();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
