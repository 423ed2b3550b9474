// A stand-in for what a router serves LuCI views from, for the browser
// tests: uhttpd's files, LuCI's admin/ubus JSON-RPC endpoint and, behind
// it, rpcd's ACL check and uci, plus fake ubus objects. It is not rpcd.
//
// Replies have the shapes of LuCI's admin/ubus (modules/luci-base/ucode/
// controller/admin/index.uc): a refused call is the JSON-RPC error -32002
// "Access denied"; otherwise the result is [status] or [status, data], and
// a call to an object nobody registered has status 4 (NOT_FOUND).
//
// The session is granted what every LuCI login gets from luci-base (the uci
// methods) and the groups of the app's acl.d file, nothing else, so a call
// a view makes that the ACL forgets is refused, and recorded.

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

export const UBUS = { OK: 0, INVALID_ARGUMENT: 2, METHOD_NOT_FOUND: 3, NOT_FOUND: 4, PERMISSION_DENIED: 6, UNKNOWN_ERROR: 9 };

// luci-base's ACL gives every login the uci methods; which configs they
// may touch is up to the uci grants of the other groups.
const LUCI_BASE_GRANT = {
	read: { ubus: { uci: ['changes', 'get'] } },
	write: { ubus: { uci: ['add', 'apply', 'confirm', 'delete', 'order', 'rename', 'set'] } },
};

const MIME = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.json': 'application/json' };

const clone = (v) => structuredClone(v);

function globMatch(pattern, name) {
	const re = new RegExp('^' + pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
	return re.test(name);
}

// groups: [{ read: { ubus: {obj: [fn]}, uci: [conf] }, write: {...} }]
export function sessionAccess(groups, scope, object, fn) {
	return groups.some((g) => ['read', 'write'].some((perm) => {
		const grant = g[perm]?.[scope];
		if (!grant) return false;
		if (scope === 'uci') return perm === fn && grant.some((c) => globMatch(c, object));
		return Object.entries(grant).some(([obj, fns]) => globMatch(obj, object) && fns.some((f) => globMatch(f, fn)));
	}));
}

// A stand-in icon: the same for every interface type, drawn here.
const ICON = '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">'
	+ '<rect x="1.5" y="3.5" width="13" height="9" rx="1.5" fill="#e8eef5" stroke="#4a6f96"/>'
	+ '<rect x="4" y="6" width="8" height="4" fill="#4a6f96"/></svg>';

export async function startServer({ appDir, standinDir, acl, uci, network, daemon }) {
	const state = {
		groups: [LUCI_BASE_GRANT, ...Object.values(acl)],
		uci: clone(uci), // what the session sees, uncommitted changes included
		committed: clone(uci),
		network,
		daemon, // { running, status, reloadStatus }
		calls: [],
		denied: [],
	};

	const canRead = (conf) => sessionAccess(state.groups, 'uci', conf, 'read');
	const canWrite = (conf) => sessionAccess(state.groups, 'uci', conf, 'write');

	function uciWrite(conf, fn) {
		if (!canWrite(conf)) return [UBUS.PERMISSION_DENIED];
		if (!state.uci[conf]) return [UBUS.NOT_FOUND];
		return fn(state.uci[conf]);
	}

	let anonymous = 0;

	const objects = {
		session: {
			access: ({ scope, object, function: fn }) =>
				[UBUS.OK, { access: sessionAccess(state.groups, scope || 'ubus', object, fn) }],
		},

		uci: {
			get: ({ config }) => {
				if (!canRead(config)) return [UBUS.PERMISSION_DENIED];
				if (!state.uci[config]) return [UBUS.NOT_FOUND];
				return [UBUS.OK, { values: clone(state.uci[config]) }];
			},
			add: ({ config, type, name, values }) => uciWrite(config, (c) => {
				const sid = name || `cfg${(0x0a1b20 + anonymous++).toString(16).padStart(6, '0')}`;
				const index = Object.keys(c).length;
				c[sid] = { '.anonymous': !name, '.type': type, '.name': sid, '.index': index, ...values };
				return [UBUS.OK, { section: sid }];
			}),
			set: ({ config, section, values }) => uciWrite(config, (c) => {
				if (!c[section]) return [UBUS.NOT_FOUND];
				Object.assign(c[section], clone(values));
				return [UBUS.OK];
			}),
			delete: ({ config, section, options, option }) => uciWrite(config, (c) => {
				if (!c[section]) return [UBUS.NOT_FOUND];
				const opts = options || (option ? [option] : null);
				if (opts) for (const o of opts) delete c[section][o];
				else delete c[section];
				return [UBUS.OK];
			}),
			changes: () => [UBUS.OK, { changes: {} }],
			apply: () => {
				state.committed = clone(state.uci);
				return [UBUS.OK];
			},
		},

		'network.interface': { dump: () => [UBUS.OK, { interface: clone(state.network.dump) }] },
		network: { get_proto_handlers: () => [UBUS.OK, {}] },
		'luci-rpc': {
			getNetworkDevices: () => [UBUS.OK, clone(state.network.devices)],
			getBoardJSON: () => [UBUS.OK, {}],
			getWirelessDevices: () => [UBUS.OK, {}],
			getHostHints: () => [UBUS.OK, {}],
		},

		// Registered only while the daemon "runs". A failed reload brings
		// its status only: LuCI's admin/ubus drops the data of a failed call.
		ndproxy: {
			status: () => [UBUS.OK, clone(state.daemon.status)],
			reload: () => (state.daemon.reloadStatus ? [state.daemon.reloadStatus] : [UBUS.OK, {}]),
		},
	};

	function call(req) {
		const reply = (body) => ({ jsonrpc: '2.0', id: req?.id ?? null, ...body });
		if (req?.jsonrpc !== '2.0' || req.method !== 'call' || !Array.isArray(req.params))
			return reply({ error: { code: -32600, message: 'Invalid request' } });

		const [, object, method, args = {}] = req.params;
		const record = { object, method, params: args };
		state.calls.push(record);

		if (object !== 'session' && !sessionAccess(state.groups, 'ubus', object, method)) {
			record.denied = true;
			state.denied.push(`${object}.${method}`);
			return reply({ error: { code: -32002, message: 'Access denied' } });
		}

		const obj = (object === 'ndproxy' && !state.daemon.running) ? null : objects[object];
		const result = !obj ? [UBUS.NOT_FOUND] : obj[method] ? obj[method](args) : [UBUS.METHOD_NOT_FOUND];
		record.status = result[0];
		return reply({ result });
	}

	async function serveFile(res, file) {
		try {
			const body = await readFile(file);
			res.writeHead(200, { 'Content-Type': MIME[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
			res.end(body);
		} catch {
			res.writeHead(404).end('not found');
		}
	}

	const server = createServer(async (req, res) => {
		const url = new URL(req.url, 'http://x');
		const path = normalize(decodeURIComponent(url.pathname));

		if (req.method === 'POST' && path === '/cgi-bin/luci/admin/ubus') {
			let body = '';
			for await (const chunk of req) body += chunk;
			let msg;
			try { msg = JSON.parse(body) } catch { msg = null }
			const out = Array.isArray(msg) ? msg.map(call) : call(msg);
			res.writeHead(200, { 'Content-Type': 'application/json' });
			return res.end(JSON.stringify(out));
		}

		const page = /^\/cgi-bin\/luci\/admin\/services\/ndproxy\/(settings|status)$/.exec(path);
		if (page) {
			const html = (await readFile(join(standinDir, 'index.html'), 'utf8'))
				.replaceAll('{{view}}', `ndproxy/${page[1]}`)
				.replaceAll(`{{active-${page[1]}}}`, 'active')
				.replace(/\{\{active-\w+\}\}/g, '');
			res.writeHead(200, { 'Content-Type': 'text/html', 'Cache-Control': 'no-store' });
			return res.end(html);
		}

		if (path.startsWith('/luci-static/resources/view/'))
			return serveFile(res, join(appDir, 'htdocs', path));
		if (path.startsWith('/luci-static/resources/standin/'))
			return serveFile(res, join(standinDir, path.slice('/luci-static/resources/standin/'.length)));
		if (path.startsWith('/luci-static/resources/icons/')) {
			res.writeHead(200, { 'Content-Type': 'image/svg+xml' });
			return res.end(ICON);
		}

		res.writeHead(404).end('not found');
	});

	await new Promise((r) => server.listen(0, '127.0.0.1', r));

	return {
		url: `http://127.0.0.1:${server.address().port}`,
		state,
		close: () => new Promise((r) => server.close(r)),
	};
}
