// Reads the names of the ubus methods ndproxy registers from a Go value,
// by running a small program against the module with `go run -overlay`:
// the program exists only in the overlay, so nothing is written to the tree.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ROOT } from './paths.mjs';

const PROBE_DIR = 'test/luci/methodsprobe'; // never on disk

// symbol is "import/path.Name": a []string, a slice or array of structs
// with a string field Name (ubus.Method), a map keyed by name, or a func
// without arguments returning one of those. extraFiles adds Go files to the
// overlay, by path relative to the module root.
export function goMethodNames(symbol, extraFiles = {}) {
	const dot = symbol.lastIndexOf('.');
	const [pkg, name] = [symbol.slice(0, dot), symbol.slice(dot + 1)];

	if (spawnSync('go', ['version']).error)
		return { skip: 'go is not installed' };

	const main = `package main

import (
	"encoding/json"
	"os"
	"reflect"

	pkg ${JSON.stringify(pkg)}
)

func main() {
	v := reflect.ValueOf(pkg.${name})
	if v.Kind() == reflect.Func {
		v = v.Call(nil)[0]
	}
	names := []string{}
	add := func(e reflect.Value) {
		for e.Kind() == reflect.Pointer || e.Kind() == reflect.Interface {
			e = e.Elem()
		}
		switch e.Kind() {
		case reflect.String:
			names = append(names, e.String())
		case reflect.Struct:
			if f := e.FieldByName("Name"); f.IsValid() && f.Kind() == reflect.String {
				names = append(names, f.String())
			}
		}
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			add(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			add(k)
		}
	default:
		add(v)
	}
	json.NewEncoder(os.Stdout).Encode(names)
}
`;

	const tmp = mkdtempSync(join(tmpdir(), 'ndproxy-methods-'));
	try {
		const replace = {};
		const files = { [join(PROBE_DIR, 'main.go')]: main, ...extraFiles };
		Object.entries(files).forEach(([path, text], i) => {
			const file = join(tmp, `${i}.go`);
			writeFileSync(file, text);
			replace[join(ROOT, path)] = file;
		});
		writeFileSync(join(tmp, 'overlay.json'), JSON.stringify({ Replace: replace }));

		const run = spawnSync('go', ['run', '-overlay', join(tmp, 'overlay.json'), './' + PROBE_DIR], {
			cwd: ROOT, encoding: 'utf8', timeout: 600000, // a cold build of internal/daemon takes a while
		});
		if (run.status !== 0)
			throw new Error(`go run for ${symbol} failed:\n${run.stderr || run.error}`);
		return { names: JSON.parse(run.stdout).sort() };
	} finally {
		rmSync(tmp, { recursive: true, force: true });
	}
}
