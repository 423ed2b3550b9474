// The status fixture the browser tests feed the status view has the shape
// docs/status.md documents: its keys are those of the documented example,
// plus the ones the text names.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT, fixture } from './lib/paths.mjs';

// Documented in the text of docs/status.md, not in its example.
const IN_TEXT = [ 'proxies[].waiting_for' ];

// Maps whose keys are data (reasons, prefixes), not names.
const MAPS = [ 'dropped', 'ignored', 'prefix_sources' ];

// "proxies[].targets[].address" for every key; a map of MAPS keeps its
// own name only.
function paths(value, prefix = '', out = new Set()) {
	if (Array.isArray(value)) {
		out.add(prefix + '[]');
		value.forEach((v) => paths(v, prefix + '[]', out));
	} else if (value && typeof value === 'object') {
		for (const [k, v] of Object.entries(value)) {
			const p = prefix ? `${prefix}.${k}` : k;
			out.add(p);
			if (!MAPS.includes(k)) paths(v, p, out);
		}
	}
	return out;
}

describe('fixtures/status.json', () => {
	const doc = readFileSync(join(ROOT, 'docs/status.md'), 'utf8');
	const example = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(doc)[1]);
	const documented = paths(example);
	const fix = paths(fixture('status.json'));

	it('has every key of the documented example', () => {
		assert.deepEqual([ ...documented ].filter((p) => !fix.has(p)), []);
	});

	it('has no key that is not documented', () => {
		const extra = [ ...fix ].filter((p) => !documented.has(p) && !IN_TEXT.includes(p));
		assert.deepEqual(extra, []);
		for (const p of IN_TEXT)
			assert.match(doc, new RegExp('`' + p.split('.').pop() + '`'), `docs/status.md names ${p}`);
	});

	it('uses the documented states and reasons', () => {
		const st = fixture('status.json');
		for (const p of st.proxies) {
			assert.ok([ 'running', 'waiting' ].includes(p.state));
			for (const t of p.targets || [])
				assert.match(doc, new RegExp('`' + t.state + '`'), `target state ${t.state}`);
			for (const r of Object.keys({ ...p.counters.dropped, ...p.counters.ignored }))
				assert.match(doc, new RegExp('`' + r + '`'), `reason ${r}`);
		}
	});
});
