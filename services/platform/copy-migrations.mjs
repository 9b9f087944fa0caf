// Part of `npm run build`: tsc compiles TypeScript only, and each service reads its SQL migrations from the
// folder beside its compiled entry.
import { cpSync, existsSync, readdirSync } from "node:fs";

for (const service of readdirSync("services")) {
  const from = `services/${service}/migrations`;
  if (existsSync(from)) cpSync(from, `dist/services/${service}/migrations`, { recursive: true });
}
