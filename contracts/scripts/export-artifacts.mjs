// Copies the ABI and bytecode of MedLedger's deployable contracts from forge's output into
// artifacts/, the files the Rust bindings are generated from and that are committed, so that
// `cargo build` needs no Solidity toolchain. Run through `npm run artifacts`.
// The Rust test `committed_artifacts_match_sources` rebuilds and compares these same fields.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CONTRACTS = ['MedLedger', 'MedLedgerForwarder'];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? join(root, 'out');
mkdirSync(join(root, 'artifacts'), { recursive: true });
for (const name of CONTRACTS) {
  const built = JSON.parse(readFileSync(join(out, `${name}.sol`, `${name}.json`), 'utf8'));
  const artifact = {
    contractName: name,
    abi: built.abi,
    bytecode: { object: built.bytecode.object },
    deployedBytecode: { object: built.deployedBytecode.object },
  };
  writeFileSync(join(root, 'artifacts', `${name}.json`), JSON.stringify(artifact, null, 2) + '\n');
  console.log(`artifacts/${name}.json: ${(built.deployedBytecode.object.length - 2) / 2} bytes deployed`);
}
