// Prints the gzipped size of what the first screen loads (index.html and
// the files it references) and fails above the budget of 400 KB.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const dist = new URL("../../dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
const files = ["index.html", ...[...html.matchAll(/(?:src|href)="\/([^"]+)"/g)].map((m) => m[1])];
let total = 0;
for (const f of files) {
  const gz = gzipSync(readFileSync(join(dist, f)), { level: 9 }).length;
  total += gz;
  console.log(`  ${f}: ${(gz / 1024).toFixed(1)} KB gzipped`);
}
const budget = 400 * 1024;
console.log(`first screen: ${(total / 1024).toFixed(1)} KB gzipped (budget ${budget / 1024} KB)`);
if (total > budget) {
  console.error("the first screen is over its budget");
  process.exit(1);
}
