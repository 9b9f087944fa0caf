import { runPsbc } from "./psbc-command.js";

/** `npm run psbc -- …`: see psbc-command.ts. */
process.exitCode = await runPsbc(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
