// The rpcd ACL and the menu, checked against what the views call, what
// LuCI's widgets call for them, and what ndproxy registers on ubus.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { goMethodNames } from './lib/gomethods.mjs';
import { ACL_FILE, MENU_FILE, VIEW_DIR, readJSON } from './lib/paths.mjs';

// The one place that says which methods ndproxy registers on its ubus
// object (docs/ubus.md points there too). Should the list move, name its
// new home here: a []string, a []ubus.Method (any slice of structs with a
// Name field), a map keyed by method name, or a func returning one of those.
const DAEMON_METHODS = 'github.com/ndproxy/ndproxy/internal/daemon.UbusMethods';

// What widgets.NetworkSelect needs: network.getNetworks() in luci-base's
// network.js makes these calls (each allowed to fail, but then the list of
// interfaces is empty or bare). luci-base's own ACL group
// luci-base-network-status grants the same.
const NETWORK_SELECT_NEEDS = {
	ubus: {
		'luci-rpc': [ 'getBoardJSON', 'getHostHints', 'getNetworkDevices', 'getWirelessDevices' ],
		network: [ 'get_proto_handlers' ],
		'network.interface': [ 'dump' ],
	},
	uci: [ 'luci', 'network', 'wireless' ],
};

// A view's methods that change something must be write grants.
const WRITES = { ndproxy: [ 'reload' ] };

const acl = readJSON(ACL_FILE);
const group = acl['luci-app-ndproxy'];

const views = readdirSync(VIEW_DIR).filter((f) => f.endsWith('.js')).map((f) => ({
	name: f, source: readFileSync(join(VIEW_DIR, f), 'utf8'),
}));

// rpc.declare({ object: 'x', method: 'y', ... }) in the views.
function viewCalls() {
	const calls = [];
	for (const v of views)
		for (const m of v.source.matchAll(/rpc\.declare\(\{([^}]*)\}/g)) {
			const object = /object:\s*'([^']+)'/.exec(m[1])?.[1];
			const method = /method:\s*'([^']+)'/.exec(m[1])?.[1];
			assert.ok(object && method, `${v.name}: rpc.declare without a literal object and method`);
			calls.push({ view: v.name, object, method });
		}
	return calls;
}

const sorted = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [ k, [ ...o[k] ].sort() ]));

describe('rpcd ACL', () => {
	it('is one group, luci-app-ndproxy, with read and write of uci ndproxy', () => {
		assert.deepEqual(Object.keys(acl), [ 'luci-app-ndproxy' ]);
		assert.equal(typeof group.description, 'string');
		assert.deepEqual(Object.keys(group).sort(), [ 'description', 'read', 'write' ]);
		assert.ok(group.read.uci.includes('ndproxy'));
		assert.deepEqual(group.write.uci, [ 'ndproxy' ]);
	});

	it('grants exactly what the views and their widgets call, changes as write', () => {
		const calls = viewCalls();
		assert.deepEqual(calls.map((c) => `${c.object}.${c.method}`).sort(), [ 'ndproxy.reload', 'ndproxy.status' ]);

		const read = structuredClone(NETWORK_SELECT_NEEDS.ubus), write = {};
		for (const c of calls) {
			const to = WRITES[c.object]?.includes(c.method) ? write : read;
			(to[c.object] ??= []).push(c.method);
		}

		assert.deepEqual(sorted(group.read.ubus), sorted(read), 'read.ubus');
		assert.deepEqual(sorted(group.write.ubus), sorted(write), 'write.ubus');
		assert.deepEqual([ ...group.read.uci ].sort(), [ 'ndproxy', ...NETWORK_SELECT_NEEDS.uci ].sort(), 'read.uci');
	});

	it('grants only methods ndproxy registers on ubus', (t) => {
		const got = goMethodNames(DAEMON_METHODS);
		if (got.skip)
			return t.skip(got.skip);

		const granted = [ ...(group.read.ubus.ndproxy || []), ...(group.write.ubus.ndproxy || []) ].sort();
		for (const m of granted)
			assert.ok(got.names.includes(m), `the ACL grants ndproxy.${m}, which ndproxy does not register (it has ${got.names.join(', ')})`);

		const ungranted = got.names.filter((m) => !granted.includes(m));
		if (ungranted.length)
			t.diagnostic(`registered but not granted to LuCI: ${ungranted.join(', ')}`);
	});

	it('reads method names from Go values of every supported shape', (t) => {
		const pkg = 'test/luci/methodsprobe/fake/fake.go';
		const fake = `package fake

import "github.com/ndproxy/ndproxy/internal/ubus"

var Methods = []ubus.Method{{Name: "status"}, {Name: "reload"}}
var Names = []string{"status", "reload"}
var ByName = map[string]ubus.Handler{"status": nil, "reload": nil}

func List() []*ubus.Method { return []*ubus.Method{{Name: "reload"}, {Name: "status"}} }
`;
		for (const name of [ 'Methods', 'Names', 'ByName', 'List' ]) {
			const got = goMethodNames(`github.com/ndproxy/ndproxy/test/luci/methodsprobe/fake.${name}`, { [pkg]: fake });
			if (got.skip)
				return t.skip(got.skip);
			assert.deepEqual(got.names, [ 'reload', 'status' ], name);
		}
	});
});

describe('menu', () => {
	const menu = readJSON(MENU_FILE);

	it('is Services → NDP Proxy with the Settings and Status tabs, behind the ACL group', () => {
		assert.deepEqual(Object.keys(menu), [
			'admin/services/ndproxy', 'admin/services/ndproxy/settings', 'admin/services/ndproxy/status',
		]);
		const top = menu['admin/services/ndproxy'];
		assert.equal(top.title, 'NDP Proxy');
		assert.deepEqual(top.action, { type: 'firstchild' });
		assert.deepEqual(top.depends.acl, Object.keys(acl));
		assert.deepEqual(top.depends.uci, { ndproxy: true });
		assert.deepEqual(Object.entries(menu).slice(1).map(([, e]) => [ e.title, e.action ]), [
			[ 'Settings', { type: 'view', path: 'ndproxy/settings' } ],
			[ 'Status', { type: 'view', path: 'ndproxy/status' } ],
		]);
	});

	it('points at views that exist', () => {
		for (const entry of Object.values(menu))
			if (entry.action.type === 'view')
				assert.ok(existsSync(join(VIEW_DIR, '..', `${entry.action.path}.js`)), entry.action.path);
	});
});
