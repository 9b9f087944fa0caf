import { runOps } from "./ops/cli.js";

/** `npm run ops -- <command>`: see ops/cli.ts. */
process.exitCode = await runOps(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
