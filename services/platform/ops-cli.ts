import { once } from "node:events";
import { runOps } from "./ops/cli.js";

/** `npm run ops -- <command>`: see ops/cli.ts. */
process.exitCode = await runOps(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  async write(text) {
    if (!process.stdout.write(text)) await once(process.stdout, "drain");
  },
  stderrIsTTY: process.stderr.isTTY === true,
});
