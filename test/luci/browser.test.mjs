// The two views in headless Chromium, against the LuCI stand-in
// (standin/luci.js) and a stand-in router (lib/server.mjs) that enforces the
// app's ACL. Screenshots go to out/ (LUCI_TEST_OUT to move it).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { chromiumMissing, launch } from './lib/cdp.mjs';
import { startServer, UBUS } from './lib/server.mjs';
import { ACL_FILE, APP_DIR, OUT_DIR, STANDIN_DIR, fixture, readJSON } from './lib/paths.mjs';

const skip = chromiumMissing();

describe('LuCI views in Chromium', { skip: skip ?? false }, () => {
	let browser;

	before(async () => {
		mkdirSync(OUT_DIR, { recursive: true });
		browser = await launch({ log: join(OUT_DIR, 'chromium.log') });
	});

	after(async () => {
		await browser?.close();
	});

	// A fresh router and a fresh tab on one of the app's pages.
	async function open(view, daemon = {}, uci = fixture('uci.json')) {
		const server = await startServer({
			appDir: APP_DIR,
			standinDir: STANDIN_DIR,
			acl: readJSON(ACL_FILE),
			uci,
			network: fixture('network.json'),
			daemon: { running: true, status: fixture('status.json'), ...daemon },
		});
		const page = await browser.newPage();
		await page.goto(`${server.url}/cgi-bin/luci/admin/services/ndproxy/${view}`);
		await page.eval('window.__standin.ready');
		return { server, page, async close() { await page.send('Page.close').catch(() => {}); await server.close(); } };
	}

	async function shoot(page, name, options) {
		writeFileSync(join(OUT_DIR, name), await page.screenshot(options));
	}

	async function noErrors(page, server) {
		assert.deepEqual(await page.eval('window.__standin.errors'), [], 'errors in the page');
		assert.deepEqual(page.consoleErrors, [], 'console errors');
		assert.deepEqual(server.state.denied, [], 'calls the ACL refused');
	}

	describe('status', () => {
		// What a user reads on the page, as data.
		const readStatus = () => ({
			warnings: [...document.querySelectorAll('#ndproxy-warnings li')].map((li) => li.textContent),
			notRunning: !!document.getElementById('ndproxy-not-running'),
			error: document.getElementById('ndproxy-error')?.textContent ?? null,
			proxies: [...document.querySelectorAll('[data-proxy]')].map((p) => ({
				name: p.querySelector('h3').textContent,
				facts: [...p.querySelector('table').rows].map((r) => [...r.cells].map((c) => c.textContent)),
				hosts: [...p.querySelectorAll('table[id^="targets-"] tr:not(.table-titles)')].map((r) =>
					[...r.cells].map((c) => c.querySelector('[data-state]')?.getAttribute('data-state') ?? c.textContent)),
				counters: [...p.querySelectorAll('table')].at(-1) &&
					Object.fromEntries([...[...p.querySelectorAll('table')].at(-1).rows].map((r) =>
						[r.cells[0].textContent, (r.cells[1].querySelector(':scope > span')?.firstChild ?? r.cells[1]).textContent])),
				reasons: [...p.querySelectorAll('[data-reason]')].map((d) => d.textContent),
			})),
			sysctls: [...document.querySelectorAll('#sysctls tr:not(.table-titles)')].map((r) => [...r.cells].map((c) => c.textContent)),
			routes: [...document.querySelectorAll('#routes tr:not(.table-titles)')].map((r) => r.textContent),
		});

		it('shows running and waiting proxies, their hosts, counters, warnings, sysctls and routes', async () => {
			const { server, page, close } = await open('status');
			try {
				const st = await page.eval(readStatus);

				assert.deepEqual(st.warnings, [ 'forwarding is on but net.ipv6.conf.wan.accept_ra is 1' ]);
				assert.equal(st.notRunning, false);
				assert.deepEqual(st.proxies.map((p) => p.name), [ 'island', '@proxy[1]' ]);

				const [island, waiting] = st.proxies;
				assert.deepEqual(island.facts, [
					[ 'State', 'Running' ],
					[ 'Upstream interface', 'wan6' ],
					[ 'Downstream interfaces', 'lan' ],
					[ 'Prefixes', '2001:db8:abc:123:40::/76 (config), 2001:db8:abc:124::/64 (wan6 delegated)' ],
					[ 'Verification', 'Probe' ],
					[ 'Routes', 'Host routes' ],
				]);
				assert.deepEqual(island.hosts, [
					[ '2001:db8:abc:123:41::1', 'valid', 'lan', 'Probe', '1h 2m 5s' ],
					[ '2001:db8:abc:123:41::2', 'refreshing', 'lan', 'Probe', '0h 0m 29s' ],
					[ '2001:db8:abc:123:42::7', 'probing', '-', '-', '0h 0m 0s' ],
					[ '2001:db8:abc:123:44::1', 'absent', '-', '-', '0h 0m 2s' ],
				]);
				assert.deepEqual(island.counters, {
					'Solicitations received': '118',
					'Advertisements sent': '96',
					'Probes sent': '41',
					'Hosts verified': '12',
					'Hosts expired': '3',
					'Absent hosts forgotten to make room': '1',
					'Invalid solicitations dropped': '3',
					'Solicitations not answered': '24',
				});
				assert.deepEqual(island.reasons, [
					'Bad checksum: 1', 'Hop limit not 255: 2', 'Host absent: 7', 'Outside the prefixes: 13', 'Probe budget spent: 4',
				]);

				assert.equal(waiting.facts[0][1], 'Waiting downstream br-guest is down');
				assert.deepEqual(waiting.hosts, [ [ 'No hosts asked for yet' ] ]);
				assert.equal(waiting.counters['Solicitations received'], '0');

				assert.deepEqual(st.sysctls, [ [ 'net/ipv6/conf/all/forwarding', '0', '1' ] ]);
				assert.deepEqual(st.routes, [
					'2001:db8:abc:123:41::1/128 dev br-lan metric 64',
					'2001:db8:abc:123:41::2/128 dev br-lan metric 64',
				]);

				// No footer: the status page saves nothing.
				assert.equal(await page.eval('!!document.querySelector(".cbi-page-actions")'), false);

				await shoot(page, 'status.png');
				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('follows the daemon on every poll, and shows when it stops and comes back', async () => {
			const { server, page, close } = await open('status');
			try {
				assert.deepEqual(await page.eval('window.__standin.polls.map((p) => p.interval)'), [ 5 ]);

				const status = fixture('status.json');
				status.proxies[1].state = 'running';
				delete status.proxies[1].waiting_for;
				status.proxies[1].targets = [
					{ address: '2001:db8:5:6::9', state: 'valid', interface: 'guest', learned: 'route', age_seconds: 65 },
				];
				status.proxies[0].counters.received = 119;
				server.state.daemon.status = status;
				await page.eval('window.__standin.tick()');

				let st = await page.eval(readStatus);
				assert.equal(st.proxies[1].facts[0][1], 'Running');
				assert.deepEqual(st.proxies[1].hosts, [ [ '2001:db8:5:6::9', 'valid', 'guest', 'Route', '0h 1m 5s' ] ]);
				assert.equal(st.proxies[0].counters['Solicitations received'], '119');

				server.state.daemon.running = false;
				await page.eval('window.__standin.tick()');
				st = await page.eval(readStatus);
				assert.equal(st.notRunning, true);
				assert.deepEqual(st.proxies, []);
				await shoot(page, 'status-not-running.png');

				server.state.daemon.running = true;
				await page.eval('window.__standin.tick()');
				st = await page.eval(readStatus);
				assert.equal(st.notRunning, false);
				assert.equal(st.proxies.length, 2);

				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('opens without a running daemon', async () => {
			const { server, page, close } = await open('status', { running: false });
			try {
				const st = await page.eval(readStatus);
				assert.equal(st.notRunning, true);
				assert.equal(st.error, null);
				const calls = server.state.calls.filter((c) => c.object === 'ndproxy');
				assert.deepEqual(calls.map((c) => [ c.method, c.status ]), [ [ 'status', UBUS.NOT_FOUND ] ]);
				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('reloads the daemon through ubus and says how it went', async () => {
			const { server, page, close } = await open('status');
			try {
				await page.click('#ndproxy-reload');
				await page.waitFor(() => document.querySelectorAll('.alert-message.info').length == 1, { what: 'a notification' });
				assert.match(await page.eval('document.querySelector(".alert-message.info").textContent'), /read its configuration again/);

				// docs/ubus.md: INVALID_ARGUMENT for a bad file, UNKNOWN_ERROR for
				// one that cannot be read.
				// The button stays disabled until the status behind the
				// notification is fetched again; a click before that is lost.
				const buttonBack = () => page.waitFor(() => !document.querySelector('#ndproxy-reload').disabled, { what: 'the reload button enabled again' });
				server.state.daemon.reloadStatus = UBUS.INVALID_ARGUMENT;
				await buttonBack();
				await page.click('#ndproxy-reload');
				await page.waitFor(() => document.querySelectorAll('.alert-message.error').length == 1, { what: 'an error notification' });
				assert.match(await page.eval('document.querySelector(".alert-message.error").textContent'),
					/^The configuration is not valid, so ndproxy keeps running with the previous one/);

				server.state.daemon.reloadStatus = UBUS.UNKNOWN_ERROR;
				await buttonBack();
				await page.click('#ndproxy-reload');
				await page.waitFor(() => document.querySelectorAll('.alert-message.error').length == 2, { what: 'a second error notification' });
				assert.equal(await page.eval('document.querySelector(".alert-message.error").textContent'),
					'ndproxy could not read its configuration: Unspecified error');

				const reloads = server.state.calls.filter((c) => c.object === 'ndproxy' && c.method === 'reload');
				assert.equal(reloads.length, 3);
				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('shows a refused call as an error, not as a stopped daemon', async () => {
			const { server, page, close } = await open('status');
			try {
				server.state.groups = server.state.groups.slice(0, 1); // luci-base only
				await page.eval('window.__standin.tick()');
				const st = await page.eval(readStatus);
				assert.equal(st.notRunning, false);
				assert.match(st.error, /failed with error -32002: Access denied/);
				server.state.denied.length = 0;
				await noErrors(page, server);
			} finally {
				await close();
			}
		});
	});

	describe('settings', () => {
		const field = (sid, opt) => `[data-field="cbid.ndproxy.${sid}.${opt}"]`;
		const widget = (sid, opt) => `[id="widget.cbid.ndproxy.${sid}.${opt}"]`;
		const STATIC = 'cfg03f1c2';

		// The error LuCI shows for a field: the tooltip of the invalid input.
		const invalid = (sel) => {
			const el = document.querySelector(sel);
			return el.classList.contains('cbi-input-invalid') ? el.getAttribute('data-tooltip') : null;
		};

		async function tab(page, sid, name) {
			await page.click(`#cbi-ndproxy-${sid} .cbi-tabmenu li[data-tab="${name}"] a`);
		}

		async function pick(page, sid, opt, values) {
			const box = `[id="cbid.ndproxy.${sid}.${opt}"]`;
			await page.click(`${box} > .open`);
			for (const v of values)
				await page.click(`${box} li[data-value="${v}"]`);
			if (await page.eval((b) => document.querySelector(b).hasAttribute('open'), box))
				await page.click(`${box} > .open`);
		}

		// The ndproxy config as the router now has it, anonymous sections
		// named as ndproxy names them.
		function routerConfig(server, which = 'uci') {
			const conf = server.state[which].ndproxy;
			const sections = Object.values(conf).sort((a, b) => a['.index'] - b['.index']);
			const out = {};
			sections.forEach((s, i) => {
				const name = s['.anonymous'] ? `@${s['.type']}[${sections.filter((t) => t['.type'] === s['.type']).indexOf(s)}]` : s['.name'];
				out[name] = Object.fromEntries(Object.entries(s).filter(([k]) => k[0] !== '.' || k === '.type'));
			});
			return out;
		}

		it('shows the configuration, device names included', async () => {
			const { server, page, close } = await open('settings');
			try {
				const view = await page.eval((f) => ({
					logLevel: document.querySelector('[id="widget.cbid.ndproxy.global.log_level"]').value,
					names: [...document.querySelectorAll('[data-name="_name"] .cbi-value-field > div:first-child')].map((d) => d.textContent),
					upstream: [...document.querySelectorAll('[data-name="upstream"] li[selected]')].map((li) => li.textContent),
					downstream: [...document.querySelectorAll('[data-name="downstream"] li[selected]')].map((li) => li.textContent),
					prefixes: [...document.querySelectorAll('[data-name="prefix"]')].map((p) =>
						[...p.querySelectorAll('.item input')].map((i) => i.value)),
					verify: [...document.querySelectorAll('[data-name="verify"] select')].map((s) => s.value),
					hidden: [...document.querySelectorAll('[data-section-id="cfg03f1c2"] .cbi-value.hidden')].map((v) => v.getAttribute('data-name')),
					readonly: !!document.querySelector('input[disabled], select[disabled]'),
				}));

				assert.equal(view.logLevel, 'info');
				assert.deepEqual(view.names, [ 'island', '@proxy[1]' ]);
				assert.deepEqual(view.upstream, [ 'wlan0 (device)', 'wan6: ' ]);
				assert.deepEqual(view.downstream, [ 'eth0 (device)', 'lan: ' ]);
				assert.deepEqual(view.prefixes, [ [ '2001:db8:abc:123:40::/76' ], [ '2001:db8:5:6::2/128', '2001:db8:5:6::3/128' ] ]);
				assert.deepEqual(view.verify, [ 'probe', 'static' ]);
				assert.deepEqual(view.hidden, [ 'ra_onlink', 'ra_dns', 'ra_interval', 'ra_holddown', 'valid_ttl', 'invalid_ttl', 'probe_timeout', 'probe_retries' ]);
				assert.equal(view.readonly, false, 'the ACL grants uci write, so the form is not read-only');

				await shoot(page, 'settings.png');

				// Saved untouched, device names stay; only the required flag
				// of the section that lacked it is written.
				await page.click('.cbi-page-actions .cbi-button-save');
				await page.waitFor(() => !document.querySelector('.cbi-page-actions .spinning'), { what: 'the save' });
				const conf = routerConfig(server);
				assert.equal(conf.island.upstream, 'wlan0');
				assert.deepEqual(conf.island.downstream, [ 'eth0' ]);
				const writes = server.state.calls.filter((c) => c.object === 'uci' && c.method !== 'get');
				assert.deepEqual(writes.map((c) => [ c.method, c.params.section, c.params.values ]), [
					[ 'set', 'island', { enabled: '0' } ],
					[ 'set', STATIC, { enabled: '1' } ],
				]);
				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('refuses invalid input with LuCI\'s messages', async () => {
			const { server, page, close } = await open('settings');
			try {
				const prefix = `${field('island', 'prefix')} .add-item input`;
				const cases = [
					[ '2001:db8::1/64x', 'Expecting: valid IPv6 CIDR' ],
					[ '2001:db8::/48', 'Expecting: a prefix length from 64 to 128' ],
					[ 'fe80::/64', 'Expecting: a global or unique local prefix, not link-local, multicast, loopback, unspecified or IPv4-mapped' ],
					[ '2001:db8:abc:123:41::1/76', '2001:db8:abc:123:41::1/76 has host bits set; did you mean 2001:db8:abc:123:40::/76?' ],
				];
				for (const [value, message] of cases) {
					await page.type(prefix, value, { leave: false });
					assert.equal(await page.eval(invalid, prefix), message, value);
					await page.key('Enter', 'Enter', 13);
					assert.deepEqual(await page.eval((sel) => [...document.querySelectorAll(`${sel} .item input`)].map((i) => i.value),
						field('island', 'prefix')), [ '2001:db8:abc:123:40::/76' ], `${value} is not added`);
				}

				await tab(page, 'island', 'advanced');
				const durations = [
					[ 'valid_ttl', '5x', 'Expecting: a whole number with the unit ms, s, m or h, such as 30s' ],
					[ 'valid_ttl', '2h', 'Expecting: a duration from 1s to 1h' ],
					[ 'probe_timeout', '5ms', 'Expecting: a duration from 10ms to 10s' ],
					[ 'probe_retries', '2.5', 'Expecting: positive integer value' ],
					[ 'probe_retries', '11', 'Expecting: value between 1 and 10' ],
					[ 'route_metric', '0', 'Expecting: value between 1 and 2147483647' ],
				];
				for (const [opt, value, message] of durations) {
					await page.type(widget('island', opt), value);
					assert.equal(await page.eval(invalid, widget('island', opt)), message, `${opt} ${value}`);
				}
				await page.type(widget('island', 'valid_ttl'), '5x');
				await page.type(widget('island', 'probe_timeout'), '');
				await page.type(widget('island', 'route_metric'), '');
				await page.eval((sel) => document.querySelector(sel).focus(), widget('island', 'valid_ttl'));
				await shoot(page, 'settings-invalid.png');

				await page.click('.cbi-page-actions .cbi-button-save');
				await page.waitFor(() => document.body.classList.contains('modal-overlay-active'), { what: 'the save error' });
				assert.equal(await page.eval('document.querySelector("#modal_overlay h4").textContent'), 'Save error');
				assert.match(await page.eval('document.querySelector("#modal_overlay em").textContent'),
					/^Option "Valid time" contains an invalid input value\. Expecting: a whole number with the unit ms, s, m or h, such as 30s$/);
				await shoot(page, 'settings-save-error.png', { fullPage: false });

				// Nothing reached the router. The refused save is, as in LuCI,
				// also an unhandled rejection of the button's handler.
				assert.deepEqual(server.state.calls.filter((c) => c.object === 'uci' && c.method !== 'get'), []);
				assert.deepEqual(await page.eval('window.__standin.errors.splice(0)'),
					[ 'Option "Valid time" contains an invalid input value. Expecting: a whole number with the unit ms, s, m or h, such as 30s' ]);
				assert.match(page.consoleErrors.splice(0).join('\n'), /^TypeError: Option "Valid time" contains an invalid input value/);

				// Cross-option rules.
				await page.eval('window.L.ui.hideModal()');
				await tab(page, 'island', 'general');
				await pick(page, 'island', 'downstream', [ 'eth0' ]);
				assert.equal(await page.eval(invalid, widget('island', 'verify')), 'Probing needs at least one downstream interface');
				await page.select(widget('island', 'route'), 'prefix');
				assert.equal(await page.eval(invalid, widget('island', 'route')), 'Prefix routes need exactly one downstream interface');
				await page.select(widget(STATIC, 'route'), 'host');
				assert.equal(await page.eval(invalid, widget(STATIC, 'route')), 'Static verification learns no hosts to route to');
				await pick(page, STATIC, 'downstream', [ 'wan6' ]);
				assert.equal(await page.eval(invalid, `[id="cbid.ndproxy.${STATIC}.downstream"]`),
					'The upstream interface cannot also be a downstream interface');

				// Prefixes, or interfaces to take them from.
				const prefixes = `[id="cbid.ndproxy.island.prefix"]`;
				await page.click(`${prefixes} .item`);
				assert.equal(await page.eval(invalid, prefixes), 'Expecting: a prefix, an interface to take prefixes from, or the RA relay');
				await pick(page, 'island', 'prefix_from', [ 'wan6' ]);
				assert.equal(await page.eval(invalid, prefixes), null);

				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('relays Router Advertisements on request, checked like the daemon checks them', async () => {
			const { server, page, close } = await open('settings');
			try {
				await tab(page, 'island', 'relay');
				const hidden = (opt) => page.eval((f) => document.querySelector(f).classList.contains('hidden'), field('island', opt));
				assert.equal(await hidden('ra_interval'), true, 'relay options hidden while the relay is off');
				await page.click(widget('island', 'ra_relay'));
				for (const opt of [ 'ra_onlink', 'ra_dns', 'ra_interval', 'ra_holddown' ])
					assert.equal(await hidden(opt), false, `${opt} shown with the relay on`);

				const dns = `${field('island', 'ra_dns')} .add-item input`;
				await page.type(dns, 'fe80::53', { leave: false });
				assert.equal(await page.eval(invalid, dns), 'Expecting: a global or unique local address');
				await page.type(dns, '2001:db8:abc:123::53', { leave: false });
				assert.equal(await page.eval(invalid, dns), null);
				await page.key('Enter', 'Enter', 13);

				for (const [opt, value, message] of [
					[ 'ra_interval', '2s', 'Expecting: a duration from 4s to 30m' ],
					[ 'ra_holddown', '2d', 'Expecting: a whole number with the unit ms, s, m or h, such as 30s' ],
				]) {
					await page.type(widget('island', opt), value);
					assert.equal(await page.eval(invalid, widget('island', opt)), message, `${opt} ${value}`);
				}
				await page.type(widget('island', 'ra_interval'), '1m');
				await page.type(widget('island', 'ra_holddown'), '');

				// With the relay on, the upstream's own prefixes will do.
				await tab(page, 'island', 'general');
				const prefixes = `[id="cbid.ndproxy.island.prefix"]`;
				await page.click(`${prefixes} .item`);
				assert.equal(await page.eval(invalid, prefixes), null, 'no prefix needed with the relay on');

				// A relay needs somewhere to relay to.
				await pick(page, 'island', 'downstream', [ 'eth0' ]);
				await tab(page, 'island', 'relay');
				assert.equal(await page.eval(invalid, widget('island', 'ra_relay')), 'Relaying needs at least one downstream interface');
				await tab(page, 'island', 'general');
				await pick(page, 'island', 'downstream', [ 'lan' ]);
				await shoot(page, 'settings-relay.png');

				await page.click('.cbi-page-actions .cbi-button-save');
				await page.waitFor(() => !document.querySelector('.cbi-page-actions .spinning'), { what: 'the save' });
				assert.equal(await page.eval('document.body.classList.contains("modal-overlay-active")'), false, 'no save error');
				const island = routerConfig(server).island;
				assert.deepEqual([ island.ra_relay, island.ra_dns, island.ra_interval, island.ra_holddown, island.prefix, island.downstream ],
					[ '1', [ '2001:db8:abc:123::53' ], '1m', undefined, undefined, [ 'lan' ] ]);
				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('adds an mDNS reflector and a WireGuard device', async () => {
			const { server, page, close } = await open('settings');
			try {
				const add = async (type) => {
					await page.click(`#cbi-ndproxy-${type} > .cbi-section-create .cbi-button-add`);
					await page.waitFor((t) => document.querySelectorAll(`#cbi-ndproxy-${t} > .cbi-section-node`).length == 1, { what: `the new ${type} section` }, type);
					return page.eval((t) => document.querySelector(`#cbi-ndproxy-${t} > .cbi-section-node`).getAttribute('data-section-id'), type);
				};

				const mdns = await add('mdns');
				await pick(page, mdns, 'interface', [ 'lan' ]);
				assert.equal(await page.eval(invalid, `[id="cbid.ndproxy.${mdns}.interface"]`), 'Expecting: at least two interfaces');
				await pick(page, mdns, 'interface', [ 'wan' ]);
				assert.equal(await page.eval(invalid, `[id="cbid.ndproxy.${mdns}.interface"]`), null);
				const svc = `${field(mdns, 'deny_service')} .add-item input`;
				await page.type(svc, 'ssh', { leave: false });
				assert.equal(await page.eval(invalid, svc), 'Expecting: a service type like _ssh._tcp');
				await page.type(svc, '_http._tcp', { leave: false });
				assert.equal(await page.eval(invalid, svc), null);
				await page.key('Enter', 'Enter', 13);
				const reachable = `${field(mdns, 'reachable')} .add-item input`;
				for (const [value, message] of [
					[ 'fe80::/64', 'Expecting: a prefix that is not link-local' ],
					[ '169.254.0.0/16', 'Expecting: a prefix that is not link-local' ],
					[ 'fd2f::', 'Expecting: an IPv6 or IPv4 prefix like fd2f::/64' ],
					[ '10.0.0.0/33', 'Expecting: an IPv6 or IPv4 prefix like fd2f::/64' ],
					[ '10.41.0.0/16', null ],
					[ 'fd2f::/64', null ],
				]) {
					await page.type(reachable, value, { leave: false });
					assert.equal(await page.eval(invalid, reachable), message, value);
				}
				await page.key('Enter', 'Enter', 13);
				await page.click(widget(mdns, 'ipv6'));
				await page.click(widget(mdns, 'ipv4'));
				assert.equal(await page.eval(invalid, widget(mdns, 'ipv4')), 'At least one of IPv4 and IPv6 must be on');
				await page.click(widget(mdns, 'ipv4'));

				const wg = await add('wireguard');
				await pick(page, wg, 'device', [ 'wan' ]);
				for (const [value, message] of [
					[ '1m', 'Expecting: a duration from 3m to 24h' ],
					[ 'soon', 'Expecting: a whole number with the unit ms, s, m or h, such as 30s' ],
					[ '0', null ],
					[ '5m', null ],
				]) {
					await page.type(widget(wg, 'handshake_timeout'), value);
					assert.equal(await page.eval(invalid, widget(wg, 'handshake_timeout')), message, value);
				}
				await page.click(widget(wg, 'ra_advertise'));
				const dns = `${field(wg, 'ra_dns')} .add-item input`;
				await page.waitFor((sel) => document.querySelector(sel), { what: 'the DNS list of ra_advertise' }, dns);
				await page.type(dns, 'fe80::53', { leave: false });
				assert.equal(await page.eval(invalid, dns), 'Expecting: a global or unique local address');
				await page.type(dns, '2001:db8:7::53', { leave: false });
				assert.equal(await page.eval(invalid, dns), null);
				await page.key('Enter', 'Enter', 13);
				await shoot(page, 'settings-mdns-wireguard.png');

				await page.click('.cbi-page-actions .cbi-button-save');
				await page.waitFor(() => !document.querySelector('.cbi-page-actions .spinning'), { what: 'the save' });
				assert.equal(await page.eval('document.body.classList.contains("modal-overlay-active")'), false, 'no save error');
				const conf = routerConfig(server);
				assert.deepEqual(conf['@mdns[0]'], { '.type': 'mdns', enabled: '1', interface: [ 'lan', 'wan' ], ipv6: '0', reachable: [ 'fd2f::/64' ], deny_service: [ '_http._tcp' ] });
				assert.deepEqual(conf['@wireguard[0]'], { '.type': 'wireguard', enabled: '1', device: 'wan', handshake_timeout: '5m', ra_advertise: '1', ra_dns: [ '2001:db8:7::53' ] });
				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('saves valid input as UCI changes and applies them', async () => {
			const { server, page, close } = await open('settings');
			try {
				// The named proxy: enabled, on wan6, a second downstream and prefix.
				await page.click(widget('island', 'enabled'));
				await pick(page, 'island', 'upstream', [ 'wan6' ]);
				await pick(page, 'island', 'downstream', [ 'lan' ]);
				await page.type(`${field('island', 'prefix')} .add-item input`, '2001:db8:abc:123:80::/76', { leave: false });
				await page.key('Enter', 'Enter', 13);
				await tab(page, 'island', 'advanced');
				await page.type(widget('island', 'valid_ttl'), '45s');
				await page.type(widget('island', 'probe_retries'), '5');
				await page.click(widget('island', 'router'));
				await page.click(widget('island', 'override'));

				// The anonymous one: verified by the routing table instead.
				await page.select(widget(STATIC, 'verify'), 'auto');
				assert.equal(await page.eval((f) => document.querySelector(f).classList.contains('hidden'), field(STATIC, 'valid_ttl')), false);

				// A new, anonymous proxy.
				await page.click('#cbi-ndproxy-proxy > .cbi-section-create .cbi-button-add');
				await page.waitFor(() => document.querySelectorAll('#cbi-ndproxy-proxy > .cbi-section-node').length == 3, { what: 'the new proxy' });
				const sid = await page.eval('[...document.querySelectorAll("#cbi-ndproxy-proxy > .cbi-section-node")][2].getAttribute("data-section-id")');
				assert.equal(await page.eval((f) => document.querySelector(f).textContent, `${field(sid, '_name')} .cbi-value-field > div:first-child`), '@proxy[2]');
				await pick(page, sid, 'upstream', [ 'wan' ]);
				await pick(page, sid, 'downstream', [ 'guest' ]);
				await page.type(`${field(sid, 'prefix')} .add-item input`, '2001:db8:7::/64', { leave: false });
				await page.key('Enter', 'Enter', 13);

				await page.click('.cbi-page-actions .cbi-button-apply');
				await page.waitFor(() => document.querySelector('.alert-message.info'), { what: 'the apply' });
				assert.equal(await page.eval('document.body.classList.contains("modal-overlay-active")'), false, 'no save error');

				const expected = {
					global: { '.type': 'global', log_level: 'info', socket: '/var/run/ndproxy.sock' },
					island: {
						'.type': 'proxy', enabled: '1', upstream: 'wan6', downstream: [ 'eth0', 'lan' ],
						prefix: [ '2001:db8:abc:123:40::/76', '2001:db8:abc:123:80::/76' ], verify: 'probe',
						valid_ttl: '45s', probe_retries: '5', router: '1', override: '0',
					},
					'@proxy[1]': {
						'.type': 'proxy', enabled: '1', upstream: 'wan6', downstream: [ 'lan' ],
						prefix: [ '2001:db8:5:6::2/128', '2001:db8:5:6::3/128' ], verify: 'auto', route: 'prefix',
					},
					'@proxy[2]': {
						'.type': 'proxy', enabled: '1', upstream: 'wan', downstream: [ 'guest' ],
						prefix: [ '2001:db8:7::/64' ], verify: 'probe',
					},
				};
				assert.deepEqual(routerConfig(server), expected);
				assert.deepEqual(routerConfig(server, 'committed'), expected, 'Save & Apply applied');

				// The form re-read what it saved.
				assert.deepEqual(await page.eval(() => [...document.querySelectorAll('[data-name="_name"] .cbi-value-field > div:first-child')].map((d) => d.textContent)),
					[ 'island', '@proxy[1]', '@proxy[2]' ]);
				await shoot(page, 'settings-saved.png');

				// What reached rpcd. Adding a proxy saves the form first, as
				// LuCI does; flags that are not at their default are written
				// on every save; options never set are not deleted.
				const writes = server.state.calls.filter((c) => c.object === 'uci' && c.method !== 'get')
					.map((c) => [ c.method, c.params.section ?? c.params.type, c.params.values ?? null ]);
				assert.deepEqual(writes, [
					[ 'add', 'proxy', {} ],
					[ 'set', 'island', {
						enabled: '1', upstream: 'wan6', downstream: [ 'eth0', 'lan' ],
						prefix: [ '2001:db8:abc:123:40::/76', '2001:db8:abc:123:80::/76' ],
						router: '1', override: '0', valid_ttl: '45s', probe_retries: '5',
					} ],
					[ 'set', STATIC, { enabled: '1', verify: 'auto' } ],
					[ 'set', 'island', { enabled: '1', router: '1', override: '0' } ],
					[ 'set', STATIC, { enabled: '1' } ],
					[ 'set', sid, { enabled: '1', upstream: 'wan', downstream: [ 'guest' ], prefix: [ '2001:db8:7::/64' ], verify: 'probe' } ],
					[ 'apply', undefined, null ],
				]);
				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('offers to create the global section when there is none', async () => {
			const uci = fixture('uci.json');
			delete uci.ndproxy.global;
			const { server, page, close } = await open('settings', {}, uci);
			try {
				assert.equal(await page.eval('!!document.querySelector("[data-name=log_level]")'), false);
				await page.click('#cbi-ndproxy-global > .cbi-button-add');
				await page.waitFor(() => document.querySelector('[data-name=log_level]'), { what: 'the global section' });
				const adds = server.state.calls.filter((c) => c.object === 'uci' && c.method === 'add');
				assert.deepEqual(adds.map((c) => c.params), [ { config: 'ndproxy', type: 'global', name: 'global', values: {} } ]);
				await noErrors(page, server);
			} finally {
				await close();
			}
		});

		it('removes a proxy', async () => {
			const { server, page, close } = await open('settings');
			try {
				await page.click(`#cbi-ndproxy-proxy button[data-section-id="${STATIC}"]`);
				await page.waitFor(() => document.querySelectorAll('#cbi-ndproxy-proxy > .cbi-section-node').length == 1, { what: 'the removal' });
				assert.deepEqual(Object.keys(routerConfig(server)), [ 'global', 'island' ]);
				await noErrors(page, server);
			} finally {
				await close();
			}
		});
	});
});
