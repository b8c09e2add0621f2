// Drives goldpath's portal API with Backstage's published clients, as a
// Backstage frontend would: CatalogClient from @backstage/catalog-client and
// ScaffolderClient from @backstage/plugin-scaffolder-common (the package
// that ships it without a browser or React runtime), each given a
// discoveryApi that answers goldpath's base URLs and a fetchApi that adds
// the caller's bearer token.
//
// Reads a plan (JSON) on standard input:
//   { "baseUrl": "http://127.0.0.1:PORT",
//     "callers": { "reader": "<token>", ... },
//     "user": "user:default/jane",            // what identityApi answers
//     "calls": [ { "name": "list", "as": "reader", "client": "catalog",
//                  "method": "getEntities", "args": [ ... ],
//                  "timeoutMs": 60000 }, ... ] }
// and prints one JSON object: each call's name with { "ok": result } or
// { "error": { "name", "status", "message" } }. `streamLogs` answers the
// events it saw, in order, once the stream completes. A string argument
// "$ref:<name>.<path>" is the result of an earlier call, e.g.
// "$ref:create.taskId".

import { CatalogClient } from '@backstage/catalog-client';
import { ConfigReader } from '@backstage/config';
import { ScmIntegrations } from '@backstage/integration';
import { ScaffolderClient } from '@backstage/plugin-scaffolder-common';

const DEFAULT_TIMEOUT_MS = 60000;

// streamLogs reads the event stream with @microsoft/fetch-event-source,
// which is written for a page: it (un)registers a visibility listener on
// `document` even when told to stream while hidden, and takes its timers
// from `window`. Node has neither, so it gets the parts a page that never
// changes visibility has.
globalThis.document ??= {
  hidden: false,
  addEventListener() {},
  removeEventListener() {},
};
globalThis.window ??= globalThis;

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function clientsFor(plan, token) {
  const discoveryApi = {
    getBaseUrl: async pluginId => `${plan.baseUrl}/api/${pluginId}`,
  };
  const fetchApi = {
    fetch: (input, init = {}) => {
      const headers = new Headers(init.headers ?? {});
      if (token) headers.set('Authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    },
  };
  const identityApi = {
    getBackstageIdentity: async () => ({
      type: 'user',
      userEntityRef: plan.user ?? 'user:default/guest',
      ownershipEntityRefs: [],
    }),
  };
  return {
    catalog: new CatalogClient({ discoveryApi, fetchApi }),
    scaffolder: new ScaffolderClient({
      discoveryApi,
      fetchApi,
      identityApi,
      scmIntegrationsApi: ScmIntegrations.fromConfig(new ConfigReader({})),
      useLongPollingLogs: plan.longPolling ?? false,
    }),
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// The events of a stream until it completes.
function collect(observable) {
  const events = [];
  let subscription;
  const done = new Promise((resolve, reject) => {
    subscription = observable.subscribe({
      next: event => events.push(event),
      error: reject,
      complete: () => resolve(events),
    });
  });
  return { done, stop: () => subscription.unsubscribe() };
}

// `value` with each "$ref:<name>.<path>" replaced by that earlier result.
function resolve(value, results) {
  if (typeof value === 'string' && value.startsWith('$ref:')) {
    const [name, ...path] = value.slice(5).split('.');
    return path.reduce((found, key) => found?.[key], results[name]?.ok);
  }
  if (Array.isArray(value)) return value.map(v => resolve(v, results));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, results)]));
  }
  return value;
}

async function run(plan, call, results) {
  const client = clientsFor(plan, plan.callers[call.as])[call.client];
  if (!client || typeof client[call.method] !== 'function') {
    throw new Error(`no method ${call.client}.${call.method}`);
  }
  const ms = call.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const what = `${call.client}.${call.method}`;
  const args = resolve(call.args ?? [], results);
  if (call.method === 'streamLogs') {
    const stream = collect(client.streamLogs(...args));
    try {
      return await withTimeout(stream.done, ms, what);
    } finally {
      stream.stop();
    }
  }
  const result = await withTimeout(client[call.method](...args), ms, what);
  // undefined (an entity that is not there) is not JSON; say it as null.
  return result === undefined ? null : result;
}

function describe(error) {
  return {
    name: error?.body?.error?.name ?? error?.name ?? 'Error',
    status: error?.response?.status ?? error?.statusCode ?? null,
    message: String(error?.body?.error?.message ?? error?.message ?? error),
  };
}

const plan = await readStdin();
const results = {};
for (const call of plan.calls) {
  try {
    results[call.name] = { ok: await run(plan, call, results) };
  } catch (error) {
    results[call.name] = { error: describe(error) };
  }
}
process.stdout.write(`${JSON.stringify(results)}\n`);
