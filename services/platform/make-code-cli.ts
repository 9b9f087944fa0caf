import { runMakeCode } from "./make-code-command.js";

/** `npm run make-code -- …`: see make-code-command.ts. */
process.exitCode = await runMakeCode(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
