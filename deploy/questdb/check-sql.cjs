// Checks every statement of the given SQL files with QuestDB's own parser
// (@questdb/sql-parser); prints each error with its file and statement, exits 1 if any.
// Usage: node deploy/questdb/check-sql.cjs FILE.sql...   (NODE_PATH must reach the package)
"use strict";
const fs = require("fs");
const { parseToAst } = require("@questdb/sql-parser");

let failures = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  const result = parseToAst(text);
  const count = Array.isArray(result.ast) ? result.ast.length : 0;
  checked += count;
  for (const error of result.errors || []) {
    failures += 1;
    const where = error.line ? `:${error.line}:${error.column}` : "";
    console.error(`${file}${where}: ${error.message}`);
  }
  if (count === 0) {
    failures += 1;
    console.error(`${file}: no statement parsed`);
  }
}
console.log(`${checked} statements checked, ${failures} errors`);
process.exit(failures === 0 ? 0 : 1);
