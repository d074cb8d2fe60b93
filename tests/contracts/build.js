// Compiles the test tokens (*.sol here) with the solc that package.json pins and prints what build.json holds:
//   node tests/contracts/build.js > tests/contracts/build.json
// tests/test_contracts.py runs it again and compares, so the checked-in bytecode is this source's.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const sources = {};
for (const file of fs.readdirSync(__dirname).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(__dirname, file), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  process.stderr.write(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const build = { compiler: solc.version(), contracts: {} };
for (const file of Object.keys(output.contracts).sort()) {
  for (const name of Object.keys(output.contracts[file]).sort()) {
    build.contracts[name] = "0x" + output.contracts[file][name].evm.bytecode.object;
  }
}
process.stdout.write(JSON.stringify(build, null, 2) + "\n");
