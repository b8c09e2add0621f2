// The reference goldpath's templating is compared with: Backstage's
// scaffolder engine (nunjitsu, as @backstage/plugin-scaffolder-backend
// configures it) and nunjucks 3.2.4 (what Backstage used before, configured
// as its SecureTemplater configured it).
//
// Reads one case per line on stdin, as JSON:
//   {"template": "...", "context": {...}, "mode": "text" | "value",
//    "compat": false, "trimBlocks": false, "lstripBlocks": false}
// and writes one line per case on stdout:
//   {"nunjitsu": R, "nunjucks": R}
// where R is {"ok": <text or value>}, {"undefined": true} (a value that is
// JavaScript's undefined) or {"error": "<message>"}.
'use strict';

const readline = require('node:readline');
const nunjitsu = require('nunjitsu');
const nunjucks = require('nunjucks');

// Backstage's own filters, as its documentation and examples define them.
function parseRepoUrl(repoUrl) {
  const url = new URL(`https://${repoUrl}`);
  const param = name => url.searchParams.get(name) || undefined;
  const repo = param('repo');
  if (!repo) throw new Error(`Invalid repo URL passed to publisher: ${repoUrl}, missing repo`);
  const parsed = { host: url.host, repo };
  for (const key of ['owner', 'organization', 'workspace', 'project']) {
    if (param(key) !== undefined) parsed[key] = param(key);
  }
  return parsed;
}
const filters = {
  parseRepoUrl,
  projectSlug(repoUrl) {
    const { owner, repo } = parseRepoUrl(repoUrl);
    return `${owner}/${repo}`;
  },
  pick(obj, key) {
    return obj == null ? undefined : obj[key];
  },
};

const renderers = new Map();
function renderer(c) {
  const key = `${!!c.compat}/${!!c.trimBlocks}/${!!c.lstripBlocks}`;
  if (!renderers.has(key)) {
    renderers.set(key, {
      nunjitsu: nunjitsu.createTemplateRenderer({
        allowRegexExecution: true,
        cookiecutterCompat: !!c.compat,
        trimBlocks: !!c.trimBlocks,
        lstripBlocks: !!c.lstripBlocks,
        filters,
      }),
      nunjucks: (() => {
        const env = nunjucks.configure({
          autoescape: false,
          trimBlocks: !!c.trimBlocks,
          lstripBlocks: !!c.lstripBlocks,
          tags: { variableStart: c.compat ? '{{' : '${{', variableEnd: '}}' },
        });
        if (c.compat) env.addFilter('jsonify', env.getFilter('dump'));
        for (const [name, filter] of Object.entries(filters)) {
          env.addFilter(name, (...args) => JSON.parse(JSON.stringify(filter(...args)) ?? 'null'));
        }
        return env;
      })(),
    });
  }
  return renderers.get(key);
}

let uninstallCompat;
function nunjucksRender(env, c, template, context) {
  if (c.compat && !uninstallCompat) uninstallCompat = nunjucks.installJinjaCompat();
  if (!c.compat && uninstallCompat) {
    uninstallCompat();
    uninstallCompat = undefined;
  }
  return env.renderString(template, context);
}

// Whether nunjucks cannot parse `template` as a step input.
function unparseable(template) {
  try {
    nunjucks.parser.parse(template, {}, {
      autoescape: false,
      tags: { variableStart: '${{', variableEnd: '}}' },
    });
    return false;
  } catch {
    return true;
  }
}

// Backstage's workflow runner catches what fails to render in a step input
// and keeps the string as written; for text that does not parse, so does
// goldpath. Whether it parses is the engine's own judgement: nunjitsu's
// error says so (it parses slices, which nunjucks 3.2.4 does not).
function keptIfUnparseable(template, render, parses = () => !unparseable(template)) {
  try {
    return render();
  } catch (error) {
    if (!parses(error)) return template;
    throw error;
  }
}

// Backstage's step-input rendering before nunjitsu: a string that is one
// expression is rendered through `dump` and parsed back, keeping its type.
function nunjucksValue(env, c, template, context) {
  let single = false;
  try {
    const parsed = nunjucks.parser.parse(template, {}, {
      autoescape: false,
      tags: { variableStart: '${{', variableEnd: '}}' },
    });
    single =
      parsed.children.length === 1 &&
      !(parsed.children[0]?.children?.[0] instanceof nunjucks.nodes.TemplateData);
  } catch {
    single = false;
  }
  if (single) {
    try {
      const dumped = template.replace(/\${{(.+)}}/g, '${{ ( $1 ) | dump }}');
      const text = nunjucksRender(env, c, dumped, context);
      if (text === '') return undefined;
      return JSON.parse(text);
    } catch {
      // Backstage falls back to rendering the text as it is.
    }
  }
  const text = nunjucksRender(env, c, template, context);
  return text === '' ? undefined : text;
}

function outcome(run) {
  try {
    const value = run();
    return value === undefined ? { undefined: true } : { ok: value };
  } catch (error) {
    return { error: String(error && error.message ? error.message : error) };
  }
}

function written(v) {
  if (typeof v === 'number' && !Number.isFinite(v)) return `__number:${v}`;
  if (typeof v === 'string') return v.toWellFormed();
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    return Object.fromEntries(Object.entries(v).map(([key, item]) => [key.toWellFormed(), item]));
  }
  return v;
}

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', line => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  const r = renderer(c);
  const context = c.context ?? {};
  const result =
    c.mode === 'value'
      ? {
          nunjitsu: outcome(() =>
            keptIfUnparseable(
              c.template,
              () => r.nunjitsu.renderValue(c.template, context),
              error => error.phase !== 'parse',
            ),
          ),
          nunjucks: outcome(() =>
            keptIfUnparseable(c.template, () => nunjucksValue(r.nunjucks, c, c.template, context)),
          ),
        }
      : {
          nunjitsu: outcome(() => r.nunjitsu.render(c.template, context)),
          nunjucks: outcome(() => nunjucksRender(r.nunjucks, c, c.template, context)),
        };
  // Values are JSON already; numbers JSON cannot hold (NaN, Infinity) are
  // written as strings naming them, so they are not mistaken for null.
  // Text is written as Backstage writes it to a file, as UTF-8: a lone
  // half of a character past U+FFFF (cut from text by a slice, `truncate`
  // or `reverse`, which count UTF-16 units) as U+FFFD.
  process.stdout.write(JSON.stringify(result, (_, v) => written(v)) + '\n');
});
