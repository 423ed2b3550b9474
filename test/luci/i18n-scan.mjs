#!/usr/bin/env node
// Builds luci-app/po/templates/ndproxy.pot, the translation template, from
// every _('...') in the app's JavaScript and every menu title, the way
// LuCI's build/i18n-scan.pl does: one entry per message, sorted, with the
// places it comes from. Run with --write to update the file; without, it
// prints the template.

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { APP_DIR, POT_FILE, ROOT } from './lib/paths.mjs';

function files(dir, ext) {
	return readdirSync(dir).sort().flatMap((name) => {
		const path = join(dir, name);
		return statSync(path).isDirectory() ? files(path, ext) : path.endsWith(ext) ? [ path ] : [];
	});
}

const ESCAPES = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

// A JavaScript string literal's value.
function unquote(literal) {
	return literal.slice(1, -1).replace(/\\(.)/g, (_, c) => ESCAPES[c] ?? c);
}

const lineOf = (text, index) => text.slice(0, index).split('\n').length;

export function scan() {
	const messages = new Map(); // msgid -> Set of "file:line"
	const add = (msgid, file, line) => {
		if (!messages.has(msgid)) messages.set(msgid, new Set());
		messages.get(msgid).add(`${relative(ROOT, file)}:${line}`);
	};

	// _('text') and N_('text'); a second argument would be a context,
	// which the app does not use.
	const call = /(?<![\w$.])N?_\(\s*('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")\s*([,)])/g;
	for (const file of files(join(APP_DIR, 'htdocs'), '.js')) {
		const text = readFileSync(file, 'utf8');
		for (const m of text.matchAll(call)) {
			if (m[2] === ',')
				throw new Error(`${relative(ROOT, file)}:${lineOf(text, m.index)}: _() with a context is not supported`);
			add(unquote(m[1]), file, lineOf(text, m.index));
		}
	}

	for (const file of files(join(APP_DIR, 'root/usr/share/luci/menu.d'), '.json')) {
		const text = readFileSync(file, 'utf8');
		for (const m of text.matchAll(/"title":\s*("(?:[^"\\]|\\.)*")/g))
			add(JSON.parse(m[1]), file, lineOf(text, m.index));
	}

	return messages;
}

function escape(s) {
	return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

// msgid "..." on one line if it fits in 79 columns, otherwise msgid "" and
// the text in lines broken after a space or a slash, as gettext writes it.
function field(keyword, value) {
	const text = escape(value);
	if (keyword.length + text.length + 3 <= 79)
		return `${keyword} "${text}"\n`;

	const lines = [];
	let rest = text;
	while (rest.length > 77) {
		const cut = Math.max(rest.lastIndexOf(' ', 76), rest.lastIndexOf('/', 76));
		const at = cut > 0 ? cut + 1 : 77;
		lines.push(rest.slice(0, at));
		rest = rest.slice(at);
	}
	lines.push(rest);
	return `${keyword} ""\n` + lines.map((l) => `"${l}"\n`).join('');
}

const refKey = (ref) => {
	const [file, line] = ref.split(/:(?=\d+$)/);
	return [ file, +line ];
};

export function buildPot() {
	const messages = scan();
	const ids = [ ...messages.keys() ].sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1));

	let out = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n';
	for (const id of ids) {
		const refs = [ ...messages.get(id) ].sort((a, b) => {
			const [fa, la] = refKey(a), [fb, lb] = refKey(b);
			return fa < fb ? -1 : fa > fb ? 1 : la - lb;
		});
		out += '\n' + refs.map((r) => `#: ${r}\n`).join('') + field('msgid', id) + 'msgstr ""\n';
	}
	return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	const pot = buildPot();
	if (process.argv.includes('--write')) {
		writeFileSync(POT_FILE, pot);
		console.log(`${relative(ROOT, POT_FILE)}: ${scan().size} messages`);
	} else {
		process.stdout.write(pot);
	}
}
