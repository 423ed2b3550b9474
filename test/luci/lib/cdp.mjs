// A minimal Chrome DevTools Protocol client over --remote-debugging-pipe:
// Chromium reads NUL-terminated JSON messages on fd 3 and writes its own on
// fd 4, so no WebSocket and no npm package is needed.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function chromiumMissing() {
	return existsSync(CHROMIUM) ? null
		: `${CHROMIUM} is not installed (apt-get install -y chromium, or set CHROMIUM)`;
}

export async function launch({ log } = {}) {
	const profile = mkdtempSync(join(tmpdir(), 'ndproxy-luci-chromium-'));
	const proc = spawn(CHROMIUM, [
		'--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync',
		'--hide-scrollbars', '--font-render-hinting=none',
		`--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank',
	], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });

	if (log) {
		const out = createWriteStream(log);
		proc.stderr.pipe(out);
	} else {
		proc.stderr.resume();
	}

	const pending = new Map();
	const listeners = new Set();
	let nextId = 1;
	let buf = '';
	let exited = null;

	proc.stdio[4].on('data', (chunk) => {
		buf += chunk.toString('utf8');
		let end;
		while ((end = buf.indexOf('\0')) >= 0) {
			const msg = JSON.parse(buf.slice(0, end));
			buf = buf.slice(end + 1);
			if (msg.id && pending.has(msg.id)) {
				const { resolve, reject, method } = pending.get(msg.id);
				pending.delete(msg.id);
				if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
				else resolve(msg.result);
			} else if (msg.method) {
				for (const fn of listeners) fn(msg);
			}
		}
	});

	proc.on('exit', (code, signal) => {
		exited = `chromium exited (${code ?? signal})`;
		for (const { reject } of pending.values()) reject(new Error(exited));
		pending.clear();
	});

	function send(method, params = {}, sessionId) {
		if (exited) return Promise.reject(new Error(exited));
		const id = nextId++;
		const msg = { id, method, params };
		if (sessionId) msg.sessionId = sessionId;
		return new Promise((resolve, reject) => {
			pending.set(id, { resolve, reject, method });
			proc.stdio[3].write(JSON.stringify(msg) + '\0');
		});
	}

	const version = await send('Browser.getVersion');

	return {
		version: version.product,

		async newPage({ width = 1280, height = 900 } = {}) {
			const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
			const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
			const page = new Page((m, p) => send(m, p, sessionId), sessionId, listeners);
			await page.send('Page.enable');
			await page.send('Runtime.enable');
			await page.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
			return page;
		},

		async close() {
			if (!exited) {
				await send('Browser.close').catch(() => {});
				await new Promise((r) => (exited ? r() : proc.once('exit', r)));
			}
			rmSync(profile, { recursive: true, force: true });
		},
	};
}

class Page {
	constructor(send, sessionId, listeners) {
		this.send = send;
		this.consoleErrors = [];
		listeners.add((msg) => {
			if (msg.sessionId !== sessionId) return;
			if (msg.method === 'Runtime.exceptionThrown')
				this.consoleErrors.push(msg.params.exceptionDetails.exception?.description || msg.params.exceptionDetails.text);
			if (msg.method === 'Runtime.consoleAPICalled' && msg.params.type === 'error')
				this.consoleErrors.push(msg.params.args.map((a) => a.value ?? a.description).join(' '));
			if (msg.method === 'Page.loadEventFired' && this.onLoad) this.onLoad();
		});
	}

	async goto(url) {
		const loaded = new Promise((r) => (this.onLoad = r));
		const res = await this.send('Page.navigate', { url });
		if (res.errorText) throw new Error(`${url}: ${res.errorText}`);
		await loaded;
	}

	// Evaluates an expression (or a function with arguments) in the page and
	// returns its JSON value; a promise is awaited.
	async eval(fn, ...args) {
		const expression = typeof fn === 'function' ? `(${fn})(...${JSON.stringify(args)})` : fn;
		const res = await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
		if (res.exceptionDetails)
			throw new Error(`in page: ${res.exceptionDetails.exception?.description || res.exceptionDetails.text}`);
		return res.result.value;
	}

	async waitFor(fn, { timeout = 5000, what = String(fn) } = {}, ...args) {
		const until = Date.now() + timeout;
		for (;;) {
			const v = await this.eval(fn, ...args);
			if (v) return v;
			if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
			await new Promise((r) => setTimeout(r, 25));
		}
	}

	// A real mouse click in the middle of the element.
	async click(selector) {
		const box = await this.eval((sel) => {
			const el = document.querySelector(sel);
			if (!el) return null;
			el.scrollIntoView({ block: 'center' });
			const r = el.getBoundingClientRect();
			return { x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height };
		}, selector);
		if (!box) throw new Error(`click: no element ${selector}`);
		if (!box.w || !box.h) throw new Error(`click: ${selector} is not visible`);
		for (const type of ['mousePressed', 'mouseReleased'])
			await this.send('Input.dispatchMouseEvent', { type, x: box.x, y: box.y, button: 'left', clickCount: 1 });
	}

	async key(key, code = key, keyCode = 0) {
		for (const type of ['keyDown', 'keyUp'])
			await this.send('Input.dispatchKeyEvent', { type, key, code, windowsVirtualKeyCode: keyCode });
	}

	// Types into a text input as a user does: focus, replace its text, a key
	// release (LuCI validates on keyup), then leave it (change, blur).
	async type(selector, text, { leave = true } = {}) {
		const ok = await this.eval((sel) => {
			const el = document.querySelector(sel);
			if (!el) return false;
			el.scrollIntoView({ block: 'center' });
			el.focus();
			el.select();
			return true;
		}, selector);
		if (!ok) throw new Error(`type: no element ${selector}`);
		if (text === '') await this.key('Delete', 'Delete', 46);
		else await this.send('Input.insertText', { text });
		await this.key('End', 'End', 35);
		if (leave) await this.eval((sel) => document.querySelector(sel).blur(), selector);
	}

	// A <select> is set as its popup would set it.
	async select(selector, value) {
		const ok = await this.eval((sel, v) => {
			const el = document.querySelector(sel);
			if (!el) return false;
			el.focus();
			el.value = v;
			el.dispatchEvent(new Event('change', { bubbles: true }));
			el.blur();
			return el.value === v;
		}, selector, value);
		if (!ok) throw new Error(`select: cannot set ${selector} to ${value}`);
	}

	// The whole page, or what the window shows (for fixed overlays).
	async screenshot({ fullPage = true } = {}) {
		const params = { format: 'png' };
		if (fullPage) {
			const { width, height } = await this.eval(() => ({
				width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
			}));
			Object.assign(params, { captureBeyondViewport: true, clip: { x: 0, y: 0, width, height, scale: 1 } });
		}
		const { data } = await this.send('Page.captureScreenshot', params);
		return Buffer.from(data, 'base64');
	}
}
