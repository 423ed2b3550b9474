// Every view, and the stand-in, is valid JavaScript as Node parses it; the
// views have LuCI's preamble and require only modules LuCI has.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { STANDIN_DIR, VIEW_DIR } from './lib/paths.mjs';

const views = readdirSync(VIEW_DIR).filter((f) => f.endsWith('.js')).map((f) => join(VIEW_DIR, f));

// luci-base's modules (luci.js built-ins and htdocs/luci-static/resources).
const LUCI_MODULES = [ 'baseclass', 'dom', 'firewall', 'form', 'fs', 'network', 'poll', 'request', 'rpc',
	'session', 'tools.widgets', 'uci', 'ui', 'validation', 'view' ];

describe('JavaScript', () => {
	it('has the two views', () => {
		assert.deepEqual(views.map((v) => v.slice(VIEW_DIR.length + 1)).sort(), [ 'settings.js', 'status.js' ]);
	});

	for (const file of [ ...views, join(STANDIN_DIR, 'luci.js') ])
		it(`node --check ${file.split('/').slice(-2).join('/')}`, () => {
			const r = spawnSync(process.execPath, [ '--check', file ], { encoding: 'utf8' });
			assert.equal(r.status, 0, r.stderr);
		});

	for (const file of views)
		it(`${file.split('/').pop()} starts as a LuCI view`, () => {
			const text = readFileSync(file, 'utf8');
			assert.match(text, /^'use strict';\n/);
			const required = [ ...text.matchAll(/^'require ([\w.]+)(?: as \w+)?';$/gm) ].map((m) => m[1]);
			assert.ok(required.includes('view'), 'requires view');
			for (const r of required)
				assert.ok(LUCI_MODULES.includes(r), `requires ${r}, which luci-base does not have`);
			assert.match(text, /\nreturn view\.extend\(\{/);
		});
});
