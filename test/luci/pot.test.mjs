// The translation template is complete and current, and gettext reads it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { buildPot, scan } from './i18n-scan.mjs';
import { POT_FILE, VIEW_DIR } from './lib/paths.mjs';

describe('po/templates/ndproxy.pot', () => {
	it('is what i18n-scan.mjs builds (else: node test/luci/i18n-scan.mjs --write)', () => {
		assert.equal(readFileSync(POT_FILE, 'utf8'), buildPot());
	});

	it('has every _() of the views', () => {
		const refs = [ ...scan().values() ].reduce((n, s) => n + [ ...s ].filter((r) => r.includes('/view/')).length, 0);
		let calls = 0;
		for (const f of readdirSync(VIEW_DIR)) {
			const text = readFileSync(join(VIEW_DIR, f), 'utf8');
			// Distinct lines: a message used twice on one line is one reference.
			const lines = new Set();
			for (const m of text.matchAll(/(?<![\w$.])N?_\(/g))
				lines.add(`${text.slice(0, m.index).split('\n').length}:${text.slice(m.index, m.index + 40)}`);
			calls += lines.size;
		}
		assert.equal(refs, calls, 'a _() call the scanner did not read, or one it read twice');
	});

	it('is as gettext writes it', (t) => {
		if (spawnSync('msgcat', [ '--version' ]).error)
			return t.skip('gettext (msgcat, msgfmt) is not installed');

		const cat = spawnSync('msgcat', [ '--sort-output', POT_FILE ], { encoding: 'utf8' });
		assert.equal(cat.status, 0, cat.stderr);
		assert.equal(cat.stdout, readFileSync(POT_FILE, 'utf8'));

		const fmt = spawnSync('msgfmt', [ '--check-format', '-o', '/dev/null', POT_FILE ], { encoding: 'utf8' });
		assert.equal(fmt.status, 0, fmt.stderr);
	});
});
