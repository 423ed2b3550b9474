/*
 * STAND-IN FOR LuCI, FOR TESTS ONLY. This is not LuCI and not a copy of it.
 *
 * It implements, in code of its own, the small part of LuCI's client API that
 * the ndproxy views use: L, E, _, String.prototype.format and the modules
 * baseclass, dom, validation, ui, form, uci, rpc, poll, network,
 * tools.widgets and view. Where the tests rely on it, it behaves as LuCI
 * does, as read in openwrt/luci modules/luci-base/htdocs/luci-static/
 * resources/{luci,form,ui,validation,uci,rpc,network}.js and
 * tools/widgets.js:
 *
 *  - datatype validation with LuCI's messages, including its quirks: the
 *    validate function of an option is called for empty values too, and a
 *    datatype that checks a part of the value (cidr6 checks the length with
 *    ip6prefix, list() each token) leaves that part as the value the
 *    validate function gets;
 *  - how options parse, write, remove and hide on dependencies, and how
 *    Map.save parses, saves through uci and renders again;
 *  - how uci keeps changes and sends them with uci add/set/delete;
 *  - how rpc sends JSON-RPC to admin/ubus and turns replies into results;
 *  - how widgets.NetworkSelect offers logical interfaces only.
 *
 * Everything else is left out or simplified: there is no translation (_ is
 * the identity), poll does not run timers (tests call __standin.tick()),
 * ui.Dropdown is a plain list, and network knows only what NetworkSelect
 * asks of it. window.__standin exposes what the tests look at.
 */
(function(window, document) {
'use strict';

var slice = function(a, n) { return Array.prototype.slice.call(a, n || 0) };

var standin = window.__standin = {
	ready: null,
	errors: [],
	uciLog: [],
	rpcLog: [],
	notifications: [],
	polls: [],
	tick: function() {
		return Promise.all(standin.polls.map(function(p) { return p.fn() }));
	}
};

// Settled when the view has rendered, or failed to.
var settleReady;
standin.ready = new Promise(function(resolve, reject) { settleReady = { resolve: resolve, reject: reject } });
standin.ready.catch(function() {});

window.addEventListener('error', function(ev) { standin.errors.push(String(ev.message)) });
window.addEventListener('unhandledrejection', function(ev) {
	standin.errors.push(String(ev.reason && ev.reason.message || ev.reason));
});

/* ---- String.prototype.format: %s %d %f %h %t %x %% ---------------------- */

String.prototype.format = function() {
	var args = arguments, n = 0;

	return this.replace(/%(?:\.(\d+))?([%sdfhtx])/g, function(all, precision, conv) {
		if (conv == '%')
			return '%';

		var v = args[n++];

		switch (conv) {
		case 's': return (v == null) ? '' : String(v);
		case 'd': return String(Math.trunc(+v) || 0);
		case 'x': return (Math.trunc(+v) || 0).toString(16);
		case 'f': return (precision != null) ? (+v).toFixed(+precision) : String(+v);
		case 'h': return String(v == null ? '' : v).replace(/[&<>"']/g, function(c) {
			return '&#' + c.charCodeAt(0) + ';';
		});
		case 't':
			// LuCI's time interval: 0h 0m 45s, 1h 2m 5s, 2d 1h 0m 5s
			var s = Math.trunc(+v) || 0, d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24,
			    m = Math.floor(s / 60) % 60;
			s %= 60;
			return d ? '%dd %dh %dm %ds'.format(d, h, m, s) : '%dh %dm %ds'.format(h, m, s);
		}
	});
};

window._ = function(msgid) { return msgid };
window.N_ = function(msgid) { return msgid };

/* ---- baseclass ----------------------------------------------------------- */

// super() resolves like LuCI's: the first call looks from the parent of the
// instance's own class; nested calls from above the class last entered.
var superStacks = new WeakMap();

function BaseClass() {}

BaseClass.prototype = {
	varargs: function(args, offset) {
		return slice(arguments, 2).concat(slice(args, offset));
	},

	super: function(key, callArgs) {
		if (key == null)
			return null;

		var stacks = superStacks.get(this);
		if (!stacks)
			superStacks.set(this, stacks = {});

		var stack = stacks[key] || (stacks[key] = []),
		    proto = Object.getPrototypeOf(stack.length ? stack[0] : Object.getPrototypeOf(this));

		while (proto && !Object.prototype.hasOwnProperty.call(proto, key))
			proto = Object.getPrototypeOf(proto);

		if (!proto)
			return null;

		if (arguments.length < 2)
			return proto[key];

		if (typeof(proto[key]) != 'function')
			throw new ReferenceError(key + ' is not a function in base class');

		if (callArgs == null || typeof(callArgs) != 'object')
			callArgs = this.varargs(arguments, 1);

		stack.unshift(proto);
		try {
			return proto[key].apply(this, callArgs);
		}
		finally {
			stack.shift();
		}
	}
};

function extend(props) {
	// A class without an __init__ of its own reaches its parent's through
	// super(), so that the parent's own super() calls resolve from there.
	var parent = this,
	    cls = function() {
		    if (Object.prototype.hasOwnProperty.call(Object.getPrototypeOf(this), '__init__'))
			    this.__init__.apply(this, arguments);
		    else
			    this.super('__init__', arguments);
	    };

	cls.prototype = Object.create(parent.prototype);
	Object.getOwnPropertyNames(props || {}).forEach(function(k) {
		Object.defineProperty(cls.prototype, k, Object.getOwnPropertyDescriptor(props, k));
	});
	cls.prototype.constructor = cls;
	cls.extend = extend;
	cls.instantiate = function(args) {
		return new (Function.prototype.bind.apply(cls, [ null ].concat(slice(args))))();
	};
	cls.isSubclass = function(c) {
		return typeof(c) == 'function' && (c === cls || c.prototype instanceof cls);
	};

	return cls;
}

BaseClass.extend = extend;
var baseclass = extend.call(BaseClass, {});

/* ---- L ------------------------------------------------------------------- */

var L = window.L = {
	Class: baseclass,
	env: { sessionid: '00000000000000000000000000000000', resource: '/luci-static/resources' },

	bind: function(fn, self) {
		var args = slice(arguments, 2);
		return function() { return fn.apply(self, args.concat(slice(arguments))) };
	},

	isObject: function(v) { return v != null && typeof(v) == 'object' },

	// Strings split on white space, as LuCI does.
	toArray: function(v) {
		if (v == null)
			return [];
		if (Array.isArray(v))
			return v;
		if (typeof(v) == 'object')
			return [ v ];
		var s = String(v).trim();
		return s == '' ? [] : s.split(/\s+/);
	},

	resolveDefault: function(p, def) {
		return Promise.resolve(p).catch(function() { return def });
	},

	raise: function(type, fmt) {
		var e = new Error(String(fmt).format.apply(String(fmt), slice(arguments, 2)));
		e.name = type;
		throw e;
	},

	error: function() { return L.raise.apply(L, arguments) },

	url: function() { return '/cgi-bin/luci/' + slice(arguments).join('/') },
	resource: function() { return L.env.resource + '/' + slice(arguments).join('/') },
	naturalCompare: function(a, b) { return String(a).localeCompare(String(b), undefined, { numeric: true }) },
	hasSystemFeature: function() { return false }
};

/* ---- dom ----------------------------------------------------------------- */

var instances = new WeakMap();

var dom = {
	elem: function(n) { return n != null && typeof(n) == 'object' && typeof(n.nodeType) == 'number' },

	parse: function(html) {
		var t = document.createElement('template');
		t.innerHTML = html;
		return t.content.firstChild;
	},

	matches: function(node, sel) { return dom.elem(node) && node.nodeType == 1 && node.matches(sel) },
	parent: function(node, sel) { return dom.elem(node) && node.closest ? node.closest(sel) : null },

	// Strings in an array become text, a lone string becomes markup.
	append: function(node, children) {
		if (Array.isArray(children)) {
			children.forEach(function(c) {
				if (dom.elem(c))
					node.appendChild(c);
				else if (c != null)
					node.appendChild(document.createTextNode(String(c)));
			});
		}
		else if (dom.elem(children)) {
			node.appendChild(children);
		}
		else if (children != null) {
			node.insertAdjacentHTML('beforeend', String(children));
		}

		return node.lastChild;
	},

	content: function(node, children) {
		while (node.firstChild)
			node.removeChild(node.firstChild);
		return dom.append(node, children);
	},

	attr: function(node, attrs) {
		for (var k in attrs) {
			var v = attrs[k];

			if (v == null)
				continue;
			if (typeof(v) == 'function')
				node.addEventListener(k, v);
			else
				node.setAttribute(k, typeof(v) == 'object' ? JSON.stringify(v) : v);
		}
	},

	create: function(html, attrs, data) {
		if (attrs == null || typeof(attrs) != 'object' || Array.isArray(attrs) || dom.elem(attrs)) {
			data = attrs;
			attrs = null;
		}

		var node;

		if (Array.isArray(html)) {
			node = document.createDocumentFragment();
			html.forEach(function(h) { node.appendChild(dom.create(h)) });
		}
		else if (dom.elem(html)) {
			node = html;
		}
		else if (html.charAt(0) == '<') {
			node = dom.parse(html);
		}
		else {
			node = document.createElement(html);
		}

		dom.attr(node, attrs);
		dom.append(node, data);

		return node;
	},

	bindClassInstance: function(node, inst) { instances.set(node, inst) },

	findClassInstance: function(node) {
		for (; node; node = node.parentNode)
			if (instances.has(node))
				return instances.get(node);
		return null;
	},

	callClassMethod: function(node, method) {
		var inst = dom.findClassInstance(node);
		return inst ? inst[method].apply(inst, slice(arguments, 2)) : null;
	}
};

window.E = function() { return dom.create.apply(dom, arguments) };
L.dom = dom;

/* ---- rpc ----------------------------------------------------------------- */

var rpcId = 1;

var statusTexts = [ 'Command OK', 'Invalid command', 'Invalid argument', 'Method not found',
	'Resource not found', 'No data received', 'Permission denied', 'Request timeout',
	'Not supported', 'Unspecified error', 'Connection lost' ];

var rpc = baseclass.extend({
	getStatusText: function(code) {
		return _(statusTexts[code] || 'Unknown error code');
	},

	declare: function(options) {
		var self = this;

		return function() {
			var params = {}, args = arguments;

			(options.params || []).forEach(function(name, i) { params[name] = args[i] });

			standin.rpcLog.push({ object: options.object, method: options.method, params: params });

			return fetch(L.url('admin/ubus'), {
				method: 'POST',
				headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify({
					jsonrpc: '2.0', id: rpcId++, method: 'call',
					params: [ L.env.sessionid, options.object, options.method, params ]
				})
			}).then(function(res) {
				if (!res.ok)
					L.raise('RPCError', 'RPC call to %s/%s failed with HTTP error %d: %s',
						options.object, options.method, res.status, res.statusText || '?');
				return res.json();
			}).then(function(msg) {
				if (!L.isObject(msg) || msg.jsonrpc != '2.0')
					L.raise('RPCError', 'RPC call to %s/%s returned invalid message frame', options.object, options.method);

				if (L.isObject(msg.error) && msg.error.code && msg.error.message)
					L.raise('RPCError', 'RPC call to %s/%s failed with error %d: %s',
						options.object, options.method, msg.error.code, msg.error.message);

				var ret = null;

				if (Array.isArray(msg.result)) {
					if (options.reject && msg.result[0] !== 0)
						L.raise('RPCError', 'RPC call to %s/%s failed with ubus code %d: %s',
							options.object, options.method, msg.result[0], self.getStatusText(msg.result[0]));

					ret = msg.result.length > 1 ? msg.result[1] : msg.result[0];
				}

				// expect: one key picks a member ('' the whole reply) and
				// its value is the default when the type differs.
				for (var key in options.expect || {}) {
					if (ret != null && key != '')
						ret = ret[key];
					if (ret == null || Object.prototype.toString.call(ret) != Object.prototype.toString.call(options.expect[key]))
						ret = options.expect[key];
					break;
				}

				return ret;
			});
		};
	}
});

/* ---- validation ---------------------------------------------------------- */

function parseInteger(x) { return /^-?\d+$/.test(x) ? +x : NaN }
function parseDecimal(x) { return /^-?\d+(?:\.\d+)?$/.test(x) ? +x : NaN }

function parseIPv4(x) {
	var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(x);
	if (!m)
		return null;
	var b = m.slice(1).map(Number);
	return b.every(function(n) { return n <= 255 }) ? b : null;
}

// Eight 16-bit words, or null. A trailing dotted quad is two words.
function parseIPv6(x) {
	var m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(x);

	if (m) {
		var v4 = parseIPv4(m[2]);
		if (!v4)
			return null;
		x = m[1] + ((v4[0] << 8) | v4[1]).toString(16) + ':' + ((v4[2] << 8) | v4[3]).toString(16);
	}

	if (!/^[0-9a-fA-F:]+$/.test(x))
		return null;

	var halves = x.split('::');
	if (halves.length > 2)
		return null;

	var head = halves[0] ? halves[0].split(':') : [],
	    tail = (halves.length > 1 && halves[1]) ? halves[1].split(':') : [],
	    fill = 8 - head.length - tail.length;

	if (halves.length == 1 ? head.length != 8 : fill < 1)
		return null;

	var groups = head.concat(new Array(halves.length > 1 ? fill : 0).fill('0'), tail);

	if (!groups.every(function(g) { return /^[0-9a-fA-F]{1,4}$/.test(g) }))
		return null;

	return groups.map(function(g) { return parseInt(g, 16) });
}

// Messages are LuCI's; the code checking them is not.
var types = {
	string: function() { return true },
	integer: function() { return this.assert(!isNaN(parseInteger(this.value)), _('valid integer value')) },
	uinteger: function() { return this.assert(parseInteger(this.value) >= 0, _('positive integer value')) },
	uciname: function() { return this.assert(/^[a-zA-Z0-9_]+$/.test(this.value), _('valid UCI identifier')) },

	ip6prefix: function() {
		return this.assert(!isNaN(this.value) && this.value >= 0 && this.value <= 128, _('valid IPv6 prefix value (0-128)'));
	},

	ip6addr: function(nomask) {
		var m = (nomask ? /^([0-9a-fA-F:.]+)$/ : /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/).exec(this.value);
		return this.assert(m && parseIPv6(m[1]) && (m[2] ? this.apply('ip6prefix', m[2]) : true),
			nomask ? _('valid IPv6 address') : _('valid IPv6 address or prefix'));
	},

	cidr6: function(negative) {
		var m = /^([0-9a-fA-F:.]+)\/(-)?(\d{1,3})$/.exec(this.value);
		return this.assert(m && parseIPv6(m[1]) && (negative || !m[2]) && this.apply('ip6prefix', m[3]),
			_('valid IPv6 CIDR'));
	},

	range: function(min, max) {
		var v = parseDecimal(this.value);
		return this.assert(v >= +min && v <= +max, _('value between %f and %f').format(min, max));
	},

	min: function(min) {
		return this.assert(parseDecimal(this.value) >= +min, _('value greater or equal to %f').format(min));
	},

	max: function(max) {
		return this.assert(parseDecimal(this.value) <= +max, _('value smaller or equal to %f').format(max));
	},

	and: function() {
		for (var i = 0; i < arguments.length; i++) {
			var a = arguments[i];
			if (typeof(a) != 'object' || a == null) {
				if (a != this.value)
					return this.assert(false, '"%s"'.format(a));
			}
			else if (!types[a.name].apply(this, a.args)) {
				return this.assert(false, this.error);
			}
		}
		return this.assert(true);
	},

	or: function() {
		var errors = [];
		for (var i = 0; i < arguments.length; i++) {
			var a = arguments[i];
			if (typeof(a) != 'object' || a == null) {
				if (a == this.value)
					return this.assert(true);
				errors.push('"%s"'.format(a));
			}
			else if (types[a.name].apply(this, a.args)) {
				return this.assert(true);
			}
			else {
				errors.push(this.error);
			}
		}
		return this.assert(false, _('One of the following: %s').format('\n - ' + errors.join('\n - ')));
	},

	list: function(sub) {
		this.field.setAttribute('data-is-list', 'true');
		var tokens = this.value.match(/[^ \t]+/g) || [];
		for (var i = 0; i < tokens.length; i++)
			if (!this.apply(sub.name, tokens[i], sub.args))
				return this.assert(false, this.error);
		return this.assert(true);
	}
};

// "and(uinteger,range(1,10))" to { name: 'and', args: [ {name, args}, ... ] }.
function compileType(code) {
	var pos = 0;

	function expr() {
		var m = /^\s*([A-Za-z0-9_]+|'[^']*'|"[^"]*"|-?\d+(?:\.\d+)?)\s*/.exec(code.slice(pos));
		if (!m)
			L.raise('SyntaxError', 'Bad datatype "%s"', code);
		pos += m[0].length;

		var tok = m[1];
		if (/^['"]/.test(tok))
			return tok.slice(1, -1);
		if (/^-?\d/.test(tok))
			return +tok;
		if (!types[tok])
			L.raise('SyntaxError', 'Unhandled token "%s"', tok);

		var node = { name: tok, args: [] };
		if (code.charAt(pos) == '(') {
			pos++;
			while (code.charAt(pos) != ')') {
				node.args.push(expr());
				if (code.charAt(pos) == ',')
					pos++;
				else if (code.charAt(pos) != ')')
					L.raise('SyntaxError', 'Bad datatype "%s"', code);
			}
			pos++;
		}
		return node;
	}

	var node = expr();
	if (pos != code.length)
		L.raise('SyntaxError', 'Bad datatype "%s"', code);
	return node;
}

function Validator(field, type, optional, vfunc) {
	this.field = field;
	this.optional = optional;
	this.vfunc = vfunc;
	this.tree = compileType(type);
}

Validator.prototype = {
	assert: function(cond, message) {
		this.field.classList.toggle('cbi-input-invalid', !cond);
		this.error = cond ? null : message;
		return !!cond;
	},

	// As in LuCI, a value passed here stays the value afterwards.
	apply: function(name, value, args) {
		if (value != null)
			this.value = value;
		return types[name].apply(this, args || []);
	},

	fail: function(message) {
		this.field.setAttribute('data-tooltip', message);
		this.field.setAttribute('data-tooltip-style', 'error');
		this.field.dispatchEvent(new CustomEvent('validation-failure', { bubbles: true, detail: { message: message } }));
		return false;
	},

	validate: function() {
		// A detached field is not judged yet.
		if (!this.field.closest('body') && !this.field.closest('[data-field]'))
			return true;

		this.field.classList.remove('cbi-input-invalid');
		this.value = (this.field.value != null) ? String(this.field.value) : '';
		this.error = null;

		var valid = this.value.length
			? types[this.tree.name].apply(this, this.tree.args)
			: this.assert(this.optional, _('non-empty value'));

		if (valid !== true)
			return this.fail(_('Expecting: %s').format(this.error));

		if (typeof(this.vfunc) == 'function')
			valid = this.vfunc(this.value);

		if (valid !== true) {
			this.assert(false, valid);
			return this.fail(valid);
		}

		this.field.removeAttribute('data-tooltip');
		this.field.removeAttribute('data-tooltip-style');
		this.field.dispatchEvent(new CustomEvent('validation-success', { bubbles: true }));
		return true;
	}
};

var validation = baseclass.extend({
	parseInteger: parseInteger,
	parseDecimal: parseDecimal,
	parseIPv4: parseIPv4,
	parseIPv6: parseIPv6,
	types: types,
	create: function(field, type, optional, vfunc) { return new Validator(field, type, optional, vfunc) }
});

/* ---- ui ------------------------------------------------------------------ */

function addValidator(field, type, optional, vfunc) {
	if (type == null)
		return null;

	var events = slice(arguments, 4);
	if (!events.length)
		events = [ 'blur', 'keyup' ];

	var v = new Validator(field, type, optional, vfunc),
	    fn = v.validate.bind(v);

	events.forEach(function(ev) { field.addEventListener(ev, fn) });
	fn();

	return fn;
}

var UIElement = baseclass.extend({
	getValue: function() {
		return (dom.matches(this.node, 'select') || dom.matches(this.node, 'input')) ? this.node.value : null;
	},

	setValue: function(v) {
		if (dom.matches(this.node, 'select') || dom.matches(this.node, 'input'))
			this.node.value = v;
	},

	isChanged: function() { return this.node.getAttribute('data-changed') == 'true' },
	isValid: function() { return this.validState !== false },
	getValidationError: function() { return this.validationError || '' },

	triggerValidation: function() {
		if (typeof(this.vfunc) != 'function')
			return false;
		var was = this.isValid();
		this.vfunc();
		return was != this.isValid();
	},

	registerEvents: function(target, synevent, events) {
		var node = this.node;
		events.forEach(function(ev) {
			target.addEventListener(ev, function() {
				node.dispatchEvent(new CustomEvent(synevent, { bubbles: true }));
			});
		});
	},

	setUpdateEvents: function(target) {
		var events = slice(arguments, 1),
		    o = this.options,
		    optional = o.hasOwnProperty('optional') ? o.optional : true;

		this.registerEvents(target, 'widget-update', events);

		if (!o.datatype && !o.validate)
			return;

		this.vfunc = addValidator.apply(null, [ target, o.datatype || 'string', optional, o.validate ].concat(events));

		this.node.addEventListener('validation-success', L.bind(function() {
			this.validState = true;
			this.validationError = '';
		}, this));

		this.node.addEventListener('validation-failure', L.bind(function(ev) {
			this.validState = false;
			this.validationError = ev.detail.message;
		}, this));
	},

	setChangeEvents: function(target) {
		var node = this.node;
		slice(arguments, 1).forEach(function(ev) {
			target.addEventListener(ev, function() { node.setAttribute('data-changed', true) });
		});
		this.registerEvents(target, 'widget-change', slice(arguments, 1));
	}
});

var UITextfield = UIElement.extend({
	__init__: function(value, options) {
		this.value = value;
		this.options = Object.assign({ optional: true }, options);
	},

	render: function() {
		var input = E('input', {
			'id': 'widget.' + this.options.id,
			'type': this.options.password ? 'password' : 'text',
			'class': 'cbi-input-text',
			'placeholder': this.options.placeholder,
			'disabled': this.options.disabled ? '' : null,
			'value': this.value
		});

		this.node = E('div', { 'id': this.options.id }, [ input ]);
		this.setUpdateEvents(input, 'keyup', 'blur');
		this.setChangeEvents(input, 'change');
		dom.bindClassInstance(this.node, this);
		return this.node;
	},

	getValue: function() { return this.node.querySelector('input').value },
	setValue: function(v) { this.node.querySelector('input').value = v }
});

// A choice '' makes the select optional; it is then the first option.
var UISelect = UIElement.extend({
	__init__: function(value, choices, options) {
		this.value = value;
		this.choices = choices || {};
		this.options = Object.assign({}, options);
		if (this.choices.hasOwnProperty(''))
			this.options.optional = true;
	},

	render: function() {
		var keys = Array.isArray(this.options.sort) ? this.options.sort : Object.keys(this.choices),
		    value = (this.value == null) ? '' : this.value;

		var select = E('select', {
			'id': 'widget.' + this.options.id,
			'class': 'cbi-input-select',
			'disabled': this.options.disabled ? '' : null
		});

		if (this.options.optional)
			select.appendChild(E('option', { 'value': '', 'selected': value == '' ? '' : null },
				[ this.choices[''] || this.options.placeholder || _('-- Please choose --') ]));

		keys.filter(function(k) { return k != '' }).forEach(function(k) {
			select.appendChild(E('option', { 'value': k, 'selected': (k == value) ? '' : null }, [ this.choices[k] || k ]));
		}, this);

		this.node = E('div', { 'id': this.options.id }, [ select ]);
		this.setUpdateEvents(select, 'change', 'click', 'blur');
		this.setChangeEvents(select, 'change');
		dom.bindClassInstance(this.node, this);
		return this.node;
	},

	getValue: function() { return this.node.querySelector('select').value },
	setValue: function(v) { this.node.querySelector('select').value = v }
});

var UICheckbox = UIElement.extend({
	__init__: function(value, options) {
		this.value = value;
		this.options = Object.assign({ value_enabled: '1', value_disabled: '0' }, options);
	},

	render: function() {
		var id = 'widget.' + this.options.id,
		    input = E('input', {
			    'id': id,
			    'type': 'checkbox',
			    'value': this.options.value_enabled,
			    'checked': (this.value == this.options.value_enabled) ? '' : null,
			    'disabled': this.options.disabled ? '' : null
		    });

		this.node = E('div', { 'class': 'cbi-checkbox', 'id': this.options.id }, [ input, E('label', { 'for': id }) ]);
		this.setUpdateEvents(input, 'click', 'blur');
		this.setChangeEvents(input, 'change');
		dom.bindClassInstance(this.node, this);
		return this.node;
	},

	isChecked: function() { return this.node.querySelector('input').checked },

	getValue: function() {
		return this.isChecked() ? this.options.value_enabled : this.options.value_disabled;
	},

	setValue: function(v) { this.node.querySelector('input').checked = (v == this.options.value_enabled) }
});

var UIHiddenfield = UIElement.extend({
	__init__: function(value, options) {
		this.value = value;
		this.options = Object.assign({}, options);
	},

	render: function() {
		this.node = E('input', { 'type': 'hidden', 'id': this.options.id, 'value': this.value });
		dom.bindClassInstance(this.node, this);
		return this.node;
	}
});

// Items, then an input to add one; the input has its own validator, and its
// failures bubble to the list. A value still in the input counts only if valid.
var UIDynamicList = UIElement.extend({
	__init__: function(values, choices, options) {
		this.values = L.toArray(values);
		this.options = Object.assign({}, options, { optional: true });
	},

	render: function() {
		var input = E('input', {
			'id': 'widget.' + this.options.id,
			'type': 'text',
			'class': 'cbi-input-text',
			'placeholder': this.options.placeholder,
			'disabled': this.options.disabled ? '' : null
		});

		var dl = E('div', { 'id': this.options.id, 'class': 'cbi-dynlist' }, [
			E('div', { 'class': 'add-item control-group' }, [ input, E('div', { 'class': 'btn cbi-button cbi-button-add' }, '+') ])
		]);

		if (this.options.datatype || this.options.validate)
			addValidator(input, this.options.datatype || 'string', true, this.options.validate, 'blur', 'keyup');

		this.values.forEach(function(v) { this.addItem(dl, v) }, this);

		dl.addEventListener('click', L.bind(function(ev) {
			var item = ev.target.closest('.item');
			if (item)
				this.removeItem(dl, item);
			else if (ev.target.matches('.cbi-button-add'))
				this.addInput(dl, input);
		}, this));

		dl.addEventListener('keydown', L.bind(function(ev) {
			if (ev.target === input && ev.key == 'Enter') {
				this.addInput(dl, input);
				ev.preventDefault();
			}
		}, this));

		this.node = dl;
		this.setUpdateEvents(dl, 'cbi-dynlist-change');
		this.setChangeEvents(dl, 'cbi-dynlist-change');
		dom.bindClassInstance(dl, this);
		return dl;
	},

	addInput: function(dl, input) {
		if (input.value.length && !input.classList.contains('cbi-input-invalid')) {
			this.addItem(dl, input.value);
			input.value = '';
		}
	},

	addItem: function(dl, value) {
		var exists = slice(dl.querySelectorAll('.item > input[type="hidden"]')).some(function(h) { return h.value === value });

		if (!exists)
			dl.insertBefore(E('div', { 'class': 'item', 'tabindex': 0 }, [
				E('span', [ value ]), E('input', { 'type': 'hidden', 'value': value })
			]), dl.querySelector('.add-item'));

		dl.dispatchEvent(new CustomEvent('cbi-dynlist-change', { bubbles: true }));
	},

	removeItem: function(dl, item) {
		item.parentNode.removeChild(item);
		dl.dispatchEvent(new CustomEvent('cbi-dynlist-change', { bubbles: true }));
	},

	getValue: function() {
		var v = slice(this.node.querySelectorAll('.item > input[type="hidden"]')).map(function(h) { return h.value }),
		    input = this.node.querySelector('.add-item > input');

		if (/\S/.test(input.value) && !input.classList.contains('cbi-input-invalid') && v.indexOf(input.value) < 0)
			v.push(input.value);

		return v;
	}
});

// A list of choices; the selected ones show while it is closed. The value
// of the box itself is the selection joined by spaces.
var UIDropdown = UIElement.extend({
	__init__: function(value, choices, options) {
		this.values = L.toArray(value);
		this.choices = choices || {};
		this.options = Object.assign({ optional: true, multiple: Array.isArray(value) }, options);
	},

	render: function() {
		var o = this.options,
		    keys = Object.keys(this.choices).sort(L.naturalCompare),
		    ul = E('ul');

		if (o.create)
			this.values.forEach(function(v) { if (!(v in this.choices)) keys.push(v) }, this);

		if (!o.multiple && o.optional)
			ul.appendChild(E('li', { 'data-value': '', 'placeholder': '' }, [ o.select_placeholder || _('-- Please choose --') ]));

		keys.forEach(function(k) {
			var label = this.choices[k];
			ul.appendChild(E('li', { 'data-value': k, 'selected': this.values.indexOf(k) > -1 ? '' : null },
				[ dom.elem(label) ? label.cloneNode(true) : (label || k) ]));
		}, this);

		if (!o.multiple && !ul.querySelector('[selected]') && ul.firstChild)
			ul.firstChild.setAttribute('selected', '');

		var sb = E('div', {
			'id': o.id, 'class': 'cbi-dropdown', 'tabindex': 0,
			'multiple': o.multiple ? '' : null, 'optional': o.optional ? '' : null
		}, [ ul, E('span', { 'class': 'more' }, [ o.select_placeholder || _('-- Please choose --') ]),
			E('span', { 'class': 'open' }, '▾'), E('div', { 'class': 'values' }) ]);

		if (o.create) {
			var create = E('input', { 'type': 'text', 'class': 'create-item-input', 'placeholder': _('-- custom --') });
			ul.appendChild(E('li', { 'data-value': '-', 'unselectable': '' }, [ create ]));
			addValidator(create, o.datatype || 'string', true, o.validate, 'blur', 'keyup');
			create.addEventListener('keydown', L.bind(function(ev) {
				if (ev.key != 'Enter' || !create.value || create.classList.contains('cbi-input-invalid'))
					return;
				var li = E('li', { 'data-value': create.value }, [ create.value ]);
				ul.insertBefore(li, create.parentNode);
				create.value = '';
				this.toggle(sb, li);
				ev.preventDefault();
			}, this));
		}

		sb.addEventListener('click', L.bind(function(ev) {
			var li = ev.target.closest('li');
			if (li && sb.hasAttribute('open') && !li.hasAttribute('unselectable'))
				this.toggle(sb, li);
			else if (!li || !li.hasAttribute('unselectable'))
				this.setOpen(sb, !sb.hasAttribute('open'));
		}, this));

		this.node = sb;
		this.save(sb, true);
		this.setUpdateEvents(sb, 'cbi-dropdown-open', 'cbi-dropdown-close');
		this.setChangeEvents(sb, 'cbi-dropdown-change', 'cbi-dropdown-close');
		dom.bindClassInstance(sb, this);
		return sb;
	},

	setOpen: function(sb, open) {
		sb.toggleAttribute('open', open);
		sb.dispatchEvent(new CustomEvent(open ? 'cbi-dropdown-open' : 'cbi-dropdown-close', { bubbles: true }));
	},

	toggle: function(sb, li) {
		if (this.options.multiple) {
			li.toggleAttribute('selected');
		}
		else {
			sb.querySelectorAll('li[selected]').forEach(function(s) { s.removeAttribute('selected') });
			li.setAttribute('selected', '');
			this.setOpen(sb, false);
		}
		this.save(sb);
	},

	save: function(sb, quiet) {
		var values = slice(sb.querySelectorAll('ul > li[selected]')).filter(function(li) {
			return !li.hasAttribute('placeholder');
		}).map(function(li) { return li.getAttribute('data-value') });

		dom.content(sb.querySelector('.values'), values.map(function(v) { return E('input', { 'type': 'hidden', 'value': v }) }));
		sb.value = values.join(' ');
		sb.toggleAttribute('empty', !values.length);

		if (!quiet)
			sb.dispatchEvent(new CustomEvent('cbi-dropdown-change', { bubbles: true }));
	},

	getValue: function() {
		var v = slice(this.node.querySelectorAll('.values > input')).map(function(h) { return h.value });
		return this.options.multiple ? v : v[0];
	}
});

var modal = null;

var ui = baseclass.extend({
	AbstractElement: UIElement,
	Textfield: UITextfield,
	Select: UISelect,
	Checkbox: UICheckbox,
	Hiddenfield: UIHiddenfield,
	DynamicList: UIDynamicList,
	Dropdown: UIDropdown,

	addValidator: addValidator,

	addNotification: function(title, children) {
		var body = E('div', { 'class': 'alert-message-body' }),
		    msg = E('div', { 'class': 'alert-message fade-in' }, [ body ]);

		if (title != null)
			body.appendChild(E('h4', {}, title));
		dom.append(body, children);
		slice(arguments, 2).forEach(function(c) { msg.classList.add(c) });

		var mc = document.getElementById('maincontent') || document.body;
		mc.insertBefore(msg, mc.firstChild);
		standin.notifications.push({ classes: slice(arguments, 2), text: msg.textContent });
		return msg;
	},

	showModal: function(title, children) {
		if (!modal)
			modal = document.body.appendChild(E('div', { 'id': 'modal_overlay' }, [ E('div', { 'class': 'modal', 'role': 'dialog' }) ]));

		var m = modal.firstChild;
		dom.content(m, E('h4', {}, title));
		dom.append(m, children);
		slice(arguments, 2).forEach(function(c) { m.classList.add(c) });
		document.body.classList.add('modal-overlay-active');
		return m;
	},

	hideModal: function() {
		document.body.classList.remove('modal-overlay-active');
	},

	// While a returned promise runs, its button spins and is disabled.
	createHandlerFn: function(ctx, fn) {
		var args = slice(arguments, 2);
		if (typeof(fn) == 'string')
			fn = ctx[fn];

		return function(ev) {
			var res = fn.apply(ctx, args.concat(slice(arguments))),
			    btn = ev && ev.currentTarget;

			if (res && typeof(res.then) == 'function' && btn) {
				btn.classList.add('spinning');
				btn.disabled = true;
				res.finally(function() {
					btn.classList.remove('spinning');
					btn.disabled = false;
				});
			}
			return res;
		};
	},

	tabs: {
		initTabGroup: function(panes) {
			panes = slice(panes).filter(function(p) { return p.nodeType == 1 && p.hasAttribute('data-tab') });
			if (!panes.length)
				return;

			var active = panes.filter(function(p) { return p.getAttribute('data-tab-active') == 'true' })[0] || panes[0],
			    menu = E('ul', { 'class': 'cbi-tabmenu' });

			panes.forEach(function(p) {
				var name = p.getAttribute('data-tab');
				p.setAttribute('data-tab-active', p === active);
				menu.appendChild(E('li', {
					'class': p === active ? 'cbi-tab' : 'cbi-tab-disabled',
					'data-tab': name
				}, [ E('a', { 'href': '#', 'click': function(ev) {
					ev.preventDefault();
					panes.forEach(function(q) { q.setAttribute('data-tab-active', q === p) });
					slice(menu.children).forEach(function(li) {
						li.className = (li.getAttribute('data-tab') == name) ? 'cbi-tab' : 'cbi-tab-disabled';
					});
				} }, [ p.getAttribute('data-tab-title') ]) ]));
			});

			panes[0].parentNode.insertBefore(menu, panes[0]);
		},

		updateTabs: function() {}
	},

	changes: {
		apply: function(checked) {
			var apply = rpc.prototype.declare({ object: 'uci', method: 'apply', params: [ 'timeout', 'rollback' ], reject: true });
			return apply(checked ? 30 : null, !!checked).then(function() {
				ui.prototype.addNotification(null, E('p', _('Configuration changes applied.')), 'info');
			});
		}
	}
});

L.ui = ui.prototype;

// An invalid field explains itself in a tooltip while it has the focus or
// the mouse, as in LuCI.
var tooltip = null;

function showTooltip(ev) {
	var target = ev.target.closest ? ev.target.closest('[data-tooltip]') : null;

	if (!target)
		return;

	var r = target.getBoundingClientRect();
	tooltip = tooltip || document.body.appendChild(E('div', { 'class': 'cbi-tooltip' }));
	tooltip.className = 'cbi-tooltip ' + (target.getAttribute('data-tooltip-style') || '');
	tooltip.textContent = target.getAttribute('data-tooltip');
	tooltip.style.left = (r.left + window.scrollX) + 'px';
	tooltip.style.top = (r.bottom + window.scrollY + 4) + 'px';
	tooltip.style.display = 'block';
}

function hideTooltip() {
	if (tooltip)
		tooltip.style.display = 'none';
}

document.addEventListener('focusin', showTooltip);
document.addEventListener('mouseover', showTooltip);
document.addEventListener('focusout', hideTooltip);

/* ---- uci ----------------------------------------------------------------- */

var uciState = { values: {}, creates: {}, changes: {}, deletes: {}, newidx: 0 };

function uciCall(method, params) {
	return rpc.prototype.declare({ object: 'uci', method: method, params: params, reject: true });
}

var callUciGet = uciCall('get', [ 'config' ]),
    callUciAdd = uciCall('add', [ 'config', 'type', 'name', 'values' ]),
    callUciSet = uciCall('set', [ 'config', 'section', 'values' ]),
    callUciDelete = uciCall('delete', [ 'config', 'section', 'options' ]);

var uci = baseclass.extend({
	load: function(packages) {
		var self = this;
		return Promise.all(L.toArray(packages).map(function(conf) {
			if (uciState.values[conf])
				return conf;
			return callUciGet(conf).then(function(reply) {
				uciState.values[conf] = reply.values;
				return conf;
			});
		}));
	},

	unload: function(packages) {
		L.toArray(packages).forEach(function(conf) {
			[ 'values', 'creates', 'changes', 'deletes' ].forEach(function(k) { delete uciState[k][conf] });
		});
	},

	sections: function(conf, type, cb) {
		var v = uciState.values[conf], n = uciState.creates[conf],
		    c = uciState.changes[conf], d = uciState.deletes[conf], out = [];

		if (!v)
			return out;

		for (var sid in v)
			if ((!d || d[sid] !== true) && (!type || v[sid]['.type'] == type))
				out.push(Object.assign({}, v[sid], c ? c[sid] : null));

		for (var sid in n || {})
			if (!type || n[sid]['.type'] == type)
				out.push(Object.assign({}, n[sid]));

		out.sort(function(a, b) { return a['.index'] - b['.index'] });
		out.forEach(function(s, i) { s['.index'] = i });

		if (typeof(cb) == 'function')
			out.forEach(function(s) { cb.call(this, s, s['.name']) }, this);

		return out;
	},

	get: function(conf, sid, opt) {
		var v = uciState.values[conf], n = uciState.creates[conf],
		    c = uciState.changes[conf], d = uciState.deletes[conf];

		if (sid == null)
			return null;

		if (n && n[sid])
			return opt == null ? n[sid] : n[sid][opt];

		if (d && d[sid] === true)
			return undefined;

		if (opt != null) {
			if (d && d[sid] && d[sid][opt])
				return undefined;
			if (c && c[sid] && c[sid][opt] != null)
				return c[sid][opt];
			return (v && v[sid]) ? v[sid][opt] : undefined;
		}

		var s = (v && v[sid]) ? Object.assign({}, v[sid], c ? c[sid] : null) : undefined;
		if (s && d && d[sid])
			Object.keys(d[sid]).forEach(function(o) { delete s[o] });
		return s;
	},

	// An empty value deletes the option, and only an option that is there.
	set: function(conf, sid, opt, val) {
		var v = uciState.values, n = uciState.creates, c = uciState.changes, d = uciState.deletes;

		if (sid == null || opt == null || opt.charAt(0) == '.')
			return;

		standin.uciLog.push({ op: (val == null || val === '') ? 'unset' : 'set', config: conf, section: sid, option: opt, value: val });

		if (n[conf] && n[conf][sid]) {
			if (val != null && val !== '')
				n[conf][sid][opt] = val;
			else
				delete n[conf][sid][opt];
			return;
		}

		if (!v[conf] || !v[conf][sid] || (d[conf] && d[conf][sid] === true))
			return;

		if (val != null && val !== '') {
			if (d[conf] && d[conf][sid])
				delete d[conf][sid][opt];
			c[conf] = c[conf] || {};
			c[conf][sid] = c[conf][sid] || {};
			c[conf][sid][opt] = val;
		}
		else if (v[conf][sid].hasOwnProperty(opt) || (c[conf] && c[conf][sid] && c[conf][sid].hasOwnProperty(opt))) {
			if (c[conf] && c[conf][sid])
				delete c[conf][sid][opt];
			if (v[conf][sid].hasOwnProperty(opt)) {
				d[conf] = d[conf] || {};
				d[conf][sid] = d[conf][sid] || {};
				d[conf][sid][opt] = true;
			}
		}
	},

	unset: function(conf, sid, opt) { return this.set(conf, sid, opt, null) },

	add: function(conf, type, name) {
		var n = uciState.creates, sid = name;

		while (sid == null || (n[conf] && n[conf][sid]))
			sid = 'new%06x'.format(Math.floor(Math.random() * 0xffffff));

		standin.uciLog.push({ op: 'add', config: conf, type: type, name: name, section: sid });

		n[conf] = n[conf] || {};
		n[conf][sid] = { '.type': type, '.name': sid, '.create': name, '.anonymous': !name, '.index': 1000 + uciState.newidx++ };
		return sid;
	},

	remove: function(conf, sid) {
		var v = uciState.values, n = uciState.creates, c = uciState.changes, d = uciState.deletes;

		standin.uciLog.push({ op: 'remove', config: conf, section: sid });

		if (n[conf] && n[conf][sid]) {
			delete n[conf][sid];
		}
		else if (v[conf] && v[conf][sid]) {
			if (c[conf])
				delete c[conf][sid];
			d[conf] = d[conf] || {};
			d[conf][sid] = true;
		}
	},

	// Deletes, then new sections, then changed options, as uci.js sends them.
	save: function() {
		var tasks = [], confs = {};

		Object.keys(uciState.deletes).forEach(function(conf) {
			var d = uciState.deletes[conf];
			Object.keys(d).forEach(function(sid) {
				tasks.push(function() { return callUciDelete(conf, sid, d[sid] === true ? null : Object.keys(d[sid])) });
			});
			confs[conf] = true;
		});

		Object.keys(uciState.creates).forEach(function(conf) {
			var n = uciState.creates[conf];
			Object.keys(n).forEach(function(sid) {
				var s = n[sid], values = {};
				Object.keys(s).forEach(function(k) { if (k.charAt(0) != '.') values[k] = s[k] });
				tasks.push(function() { return callUciAdd(conf, s['.type'], s['.create'], values) });
			});
			confs[conf] = true;
		});

		Object.keys(uciState.changes).forEach(function(conf) {
			var c = uciState.changes[conf];
			Object.keys(c).forEach(function(sid) {
				if (Object.keys(c[sid]).length)
					tasks.push(function() { return callUciSet(conf, sid, c[sid]) });
			});
			confs[conf] = true;
		});

		var self = this;
		return tasks.reduce(function(p, t) { return p.then(t) }, Promise.resolve()).then(function() {
			self.unload(Object.keys(confs));
			return self.load(Object.keys(confs));
		});
	}
});

/* ---- poll ---------------------------------------------------------------- */

var poll = baseclass.extend({
	add: function(fn, interval) {
		standin.polls.push({ fn: fn, interval: interval });
		return true;
	},
	remove: function(fn) {
		standin.polls = standin.polls.filter(function(p) { return p.fn !== fn });
		return true;
	},
	start: function() { return true },
	stop: function() { return true },
	active: function() { return false }
});

/* ---- network: what NetworkSelect asks of it -------------------------------- */

// The same calls as network.js makes to learn the interfaces, each allowed
// to fail, so that the test server sees what the ACL has to grant.
var networkCalls = [
	[ 'network.interface', 'dump', { interface: [] } ],
	[ 'luci-rpc', 'getBoardJSON', null ],
	[ 'luci-rpc', 'getNetworkDevices', { '': {} } ],
	[ 'luci-rpc', 'getWirelessDevices', { '': {} } ],
	[ 'luci-rpc', 'getHostHints', { '': {} } ],
	[ 'network', 'get_proto_handlers', { '': {} } ]
];

var networkState = null;

var Device = baseclass.extend({
	__init__: function(name, netdev) { this.name = name; this.dev = netdev || {} },
	getName: function() { return this.name },
	getType: function() { return this.dev.devtype == 'bridge' ? 'bridge' : (this.dev.wireless ? 'wifi' : 'ethernet') },
	isUp: function() { return !!this.dev.up },
	getI18n: function() { return (this.getType() == 'bridge' ? _('Bridge') : _('Ethernet Adapter')) + ': "%s"'.format(this.name) }
});

var Network = baseclass.extend({
	__init__: function(name, section, status, netdevs) {
		this.name = name;
		this.section = section;
		this.status = status || {};
		this.netdevs = netdevs;
	},
	getName: function() { return this.name },
	isUp: function() { return !!this.status.up },
	isVirtual: function() { return /^@/.test(this.section.device || '') },
	isBridge: function() { return (this.netdevs[this.deviceName()] || {}).devtype == 'bridge' },
	deviceName: function() { return this.status.l3_device || this.status.device || this.section.device },
	getDevice: function() {
		var name = this.deviceName();
		return (name && !/^@/.test(name)) ? new Device(name, this.netdevs[name]) : null;
	},
	getDevices: function() {
		var dev = this.netdevs[this.deviceName()] || {};
		return L.toArray(dev.ports).map(function(p) { return new Device(p, this.netdevs[p]) }, this);
	}
});

var network = baseclass.extend({
	getNetworks: function() {
		if (!networkState)
			networkState = Promise.all(networkCalls.map(function(c) {
				return L.resolveDefault(rpc.prototype.declare({ object: c[0], method: c[1], expect: c[2] })(), null);
			}).concat([ 'network', 'wireless', 'luci' ].map(function(conf) {
				return L.resolveDefault(uci.prototype.load(conf), null);
			}))).then(function(res) {
				var dump = res[0] || [], netdevs = res[2] || {};

				return uci.prototype.sections('network', 'interface').map(function(s) {
					var status = dump.filter(function(i) { return i['interface'] == s['.name'] })[0];
					return new Network(s['.name'], s, status, netdevs);
				}).sort(function(a, b) { return L.naturalCompare(a.getName(), b.getName()) });
			});

		return networkState;
	}
});

/* ---- form ---------------------------------------------------------------- */

function isEqual(x, y) {
	if (y instanceof RegExp)
		return x != null && y.test(x);
	if (x == null || y == null)
		return x == null && y == null;
	if (typeof(x) != typeof(y))
		return false;
	if (Array.isArray(x))
		return Array.isArray(y) && x.length == y.length && x.every(function(v, i) { return isEqual(v, y[i]) });
	return x == y;
}

var callSessionAccess = rpc.prototype.declare({
	object: 'session', method: 'access', params: [ 'scope', 'object', 'function' ], expect: { access: false }
});

var CBIAbstractElement = baseclass.extend({
	__init__: function(title, description) {
		this.title = title || '';
		this.description = description || '';
		this.children = [];
	},

	append: function(obj) { this.children.push(obj) },

	loadChildren: function() {
		var args = arguments;
		return Promise.all(this.children.filter(function(c) { return !c.disable }).map(function(c) {
			return c.load.apply(c, args);
		}));
	},

	renderChildren: function(tab_name) {
		var index = 0, rest = slice(arguments, 1);
		return Promise.all(this.children.filter(function(c) {
			return !c.disable && (tab_name === null || c.tab === tab_name);
		}).map(function(c) {
			return c.render.apply(c, [ index++ ].concat(rest));
		}));
	},

	stripTags: function(s) {
		var d = document.createElement('div');
		d.innerHTML = s || '';
		return d.textContent;
	},

	titleFn: function(attr) {
		var v = this[attr];
		if (typeof(v) == 'function')
			v = v.apply(this, slice(arguments, 1));
		return (v == null || v === '') ? null : this.stripTags(String(v)).trim();
	}
});

var CBIMap = CBIAbstractElement.extend({
	__init__: function(config) {
		this.super('__init__', slice(arguments, 1));
		this.config = config;
		this.parsechain = [ config ];
		this.data = uci.prototype;
	},

	findElements: function() {
		var q = arguments.length == 1 ? arguments[0] : '[%s="%s"]'.format(arguments[0], arguments[1]);
		return this.root.querySelectorAll(q);
	},

	findElement: function() {
		return this.findElements.apply(this, arguments)[0] || null;
	},

	section: function(cls) {
		var s = cls.instantiate([ this ].concat(slice(arguments, 1)));
		this.append(s);
		return s;
	},

	// Without uci write access to its config the form is read-only.
	load: function() {
		var self = this;
		return Promise.all([
			this.readonly == null ? callSessionAccess('uci', this.config, 'write') : true
		].concat(this.parsechain.map(function(c) { return self.data.load(c) }))).then(function(res) {
			if (res[0] === false)
				self.readonly = true;
			return self.loadChildren();
		});
	},

	parse: function() {
		return Promise.all(this.children.map(function(c) { return c.parse() }));
	},

	save: function(cb, silent) {
		this.checkDepends();

		return this.parse()
			.then(cb)
			.then(this.data.save.bind(this.data))
			.then(this.load.bind(this))
			.catch(function(e) {
				if (!silent)
					ui.prototype.showModal(_('Save error'), [
						E('p', {}, [ _('An error occurred while saving the form:') ]),
						E('p', {}, [ E('em', { 'style': 'white-space:pre-wrap' }, [ e.message ]) ]),
						E('div', { 'class': 'right' }, [
							E('button', { 'class': 'cbi-button', 'click': ui.prototype.hideModal }, [ _('Dismiss') ])
						])
					]);
				return Promise.reject(e);
			})
			.then(this.renderContents.bind(this));
	},

	reset: function() { return this.renderContents() },

	render: function() { return this.load().then(this.renderContents.bind(this)) },

	renderContents: function() {
		var root = this.root || (this.root = E('div', { 'id': 'cbi-' + this.config, 'class': 'cbi-map' }));

		dom.bindClassInstance(root, this);

		return this.renderChildren(null).then(L.bind(function(nodes) {
			dom.content(root, null);

			if (this.title)
				root.appendChild(E('h2', { 'name': 'content' }, this.title));
			if (this.description)
				root.appendChild(E('div', { 'class': 'cbi-map-descr' }, this.description));

			dom.append(root, nodes);
			this.checkDepends();

			root.querySelectorAll('.cbi-map-tabbed, .cbi-section-node-tabbed').forEach(function(g) {
				ui.prototype.tabs.initTabGroup(g.childNodes);
			});

			return root;
		}, this));
	},

	lookupOption: function(name, section_id, config_name) {
		var id = name.indexOf('.') > -1 ? 'cbid.' + name : 'cbid.%s.%s.%s'.format(config_name || this.config, section_id, name),
		    elem = this.findElement('data-field', id),
		    inst = elem ? dom.findClassInstance(elem) : null;

		return (inst instanceof CBIAbstractValue) ? [ inst, id.split('.')[2] ] : null;
	},

	checkDepends: function(ev, n) {
		var changed = false;

		this.children.forEach(function(s) {
			if (s.checkDepends(ev, n))
				changed = true;
		});

		if (changed && (n || 0) < 10)
			this.checkDepends(ev, (n || 10) + 1);
	},

	// Each entry of depends is an alternative; its keys must all match, or
	// with '!reverse' not all. ('!contains' and '!default' are left out.)
	isDependencySatisfied: function(depends, config_name, section_id) {
		if (!Array.isArray(depends) || !depends.length)
			return true;

		return depends.some(function(d) {
			var ok = Object.keys(d).filter(function(k) { return k.charAt(0) != '!' }).every(function(dep) {
				var res = this.lookupOption(dep, section_id, config_name),
				    val = (res && res[0].isActive(res[1])) ? res[0].formvalue(res[1]) : null;
				return isEqual(val, d[dep]);
			}, this);

			return ok != !!d['!reverse'];
		}, this);
	}
});

var CBIAbstractSection = CBIAbstractElement.extend({
	__init__: function(map, sectionType) {
		this.super('__init__', slice(arguments, 2));
		this.sectiontype = sectionType;
		this.map = map;
		this.config = map.config;
		this.optional = true;
		this.addremove = false;
	},

	filter: function() { return true },

	load: function() {
		return Promise.all(this.cfgsections().map(function(sid) {
			return this.loadChildren(sid).then(L.bind(function(values) {
				values.forEach(function(v, i) { this.children[i].cfgvalue(sid, v) }, this);
			}, this));
		}, this));
	},

	parse: function() {
		var tasks = [];
		this.cfgsections().forEach(function(sid) {
			this.children.forEach(function(c) { tasks.push(c.parse(sid)) });
		}, this);
		return Promise.all(tasks);
	},

	tab: function(name, title, description) {
		if (this.tabs && this.tabs[name])
			throw 'Tab already declared';

		var entry = { name: name, title: title, description: description, children: [] };
		this.tabs = this.tabs || [];
		this.tabs.push(entry);
		this.tabs[name] = entry;
		this.tab_names = (this.tab_names || []).concat(name);
	},

	option: function(cls) {
		if (!CBIAbstractValue.isSubclass(cls))
			L.raise('TypeError', 'Class must be a descendant of CBIAbstractValue');

		var o = cls.instantiate([ this.map, this ].concat(slice(arguments, 1)));
		this.append(o);
		return o;
	},

	taboption: function(tab) {
		if (!this.tabs || !this.tabs[tab])
			L.raise('ReferenceError', 'Associated tab not declared');

		var o = this.option.apply(this, slice(arguments, 1));
		o.tab = tab;
		this.tabs[tab].children.push(o);
		return o;
	},

	getOption: function(name) {
		return this.children.filter(function(o) { return o.option == name })[0] || null;
	},

	cfgvalue: function(section_id, option) {
		var o = this.getOption(option);
		return o ? o.cfgvalue(section_id) : null;
	},

	formvalue: function(section_id, option) {
		var o = this.getOption(option);
		return o ? (this.map.root ? o.formvalue(section_id) : o.cfgvalue(section_id)) : null;
	},

	renderUCISection: function(section_id) {
		if (!this.tabs)
			return this.renderOptions(null, section_id);

		return Promise.all(this.tab_names.map(function(t) {
			return this.renderOptions(t, section_id);
		}, this)).then(this.renderTabContainers.bind(this, section_id));
	},

	renderTabContainers: function(section_id, nodes) {
		return E(this.tab_names.map(function(name, i) {
			var tab = this.tabs[name];
			return E('div', {
				'id': 'container.%s.%s.%s'.format(this.map.config, section_id, name),
				'data-tab': name,
				'data-tab-title': tab.title
			}, [ tab.description ? E('div', { 'class': 'cbi-tab-descr' }, tab.description) : '', nodes[i] ]);
		}, this));
	},

	renderOptions: function(tab_name, section_id) {
		return this.renderChildren(tab_name, section_id, false).then(function(nodes) {
			var frag = document.createDocumentFragment();
			nodes.forEach(function(n) { frag.appendChild(n) });
			return frag;
		});
	},

	checkDepends: function(ev, n) {
		var changed = false;

		this.cfgsections().forEach(function(sid) {
			this.children.forEach(function(o) {
				var active = o.isActive(sid);

				if (active != o.checkDepends(sid)) {
					o.setActive(sid, !active);
					active = !active;
					changed = true;
				}

				if (!n && active)
					o.triggerValidation(sid);
			});
		}, this);

		return changed;
	}
});

var CBITypedSection = CBIAbstractSection.extend({
	__name__: 'CBI.TypedSection',

	cfgsections: function() {
		return this.map.data.sections(this.map.config, this.sectiontype)
			.map(function(s) { return s['.name'] })
			.filter(L.bind(this.filter, this));
	},

	handleAdd: function(ev, name) {
		this.map.data.add(this.map.config, this.sectiontype, name);
		return this.map.save(null, true);
	},

	handleRemove: function(section_id) {
		this.map.data.remove(this.map.config, section_id);
		return this.map.save(null, true);
	},

	renderSectionAdd: function() {
		if (!this.addremove)
			return E([]);

		// Anonymous sections only: a named one would ask for its name here.
		var title = this.titleFn('addbtntitle') || _('Add');

		return E('div', { 'class': 'cbi-section-create' }, E('button', {
			'class': 'cbi-button cbi-button-add', 'title': title,
			'click': ui.prototype.createHandlerFn(this, 'handleAdd'),
			'disabled': this.map.readonly || null
		}, [ title ]));
	},

	renderContents: function(cfgsections, nodes) {
		var conf = this.map.config,
		    el = E('div', { 'id': 'cbi-%s-%s'.format(conf, this.sectiontype), 'class': 'cbi-section' });

		if (this.title)
			el.appendChild(E('h3', {}, this.title));
		if (this.description)
			el.appendChild(E('div', { 'class': 'cbi-section-descr' }, this.description));

		nodes.forEach(function(node, i) {
			if (this.addremove)
				el.appendChild(E('div', { 'class': 'cbi-section-remove right' }, E('button', {
					'class': 'cbi-button',
					'name': 'cbi.rts.%s.%s'.format(conf, cfgsections[i]),
					'data-section-id': cfgsections[i],
					'click': ui.prototype.createHandlerFn(this, 'handleRemove', cfgsections[i]),
					'disabled': this.map.readonly || null
				}, [ _('Delete') ])));

			el.appendChild(E('div', {
				'id': 'cbi-%s-%s'.format(conf, cfgsections[i]),
				'class': this.tabs ? 'cbi-section-node cbi-section-node-tabbed' : 'cbi-section-node',
				'data-section-id': cfgsections[i]
			}, node));
		}, this);

		if (!nodes.length)
			el.appendChild(E('em', _('This section contains no values yet')));

		el.appendChild(this.renderSectionAdd());
		dom.bindClassInstance(el, this);
		return el;
	},

	render: function() {
		var sids = this.cfgsections();
		return Promise.all(sids.map(this.renderUCISection, this)).then(this.renderContents.bind(this, sids));
	}
});

var CBINamedSection = CBIAbstractSection.extend({
	__name__: 'CBI.NamedSection',

	__init__: function(map, section_id) {
		this.super('__init__', [ map ].concat(slice(arguments, 2)));
		this.section = section_id;
	},

	cfgsections: function() { return [ this.section ] },

	handleAdd: function() {
		this.map.data.add(this.map.config, this.sectiontype, this.section);
		return this.map.save(null, true);
	},

	handleRemove: function() {
		this.map.data.remove(this.map.config, this.section);
		return this.map.save(null, true);
	},

	render: function() {
		return Promise.all([
			this.map.data.get(this.map.config, this.section),
			this.renderUCISection(this.section)
		]).then(L.bind(function(res) {
			var conf = this.map.config,
			    el = E('div', { 'class': 'cbi-section', 'id': res[0] ? null : 'cbi-%s-%s'.format(conf, this.section) });

			if (this.title)
				el.appendChild(E('h3', {}, this.title));
			if (this.description)
				el.appendChild(E('div', { 'class': 'cbi-section-descr' }, this.description));

			if (res[0]) {
				if (this.addremove)
					el.appendChild(E('div', { 'class': 'cbi-section-remove right' }, E('button', {
						'class': 'cbi-button', 'click': ui.prototype.createHandlerFn(this, 'handleRemove')
					}, [ _('Delete') ])));

				el.appendChild(E('div', {
					'id': 'cbi-%s-%s'.format(conf, this.section),
					'class': this.tabs ? 'cbi-section-node cbi-section-node-tabbed' : 'cbi-section-node',
					'data-section-id': this.section
				}, res[1]));
			}
			else if (this.addremove) {
				el.appendChild(E('button', {
					'class': 'cbi-button cbi-button-add', 'click': ui.prototype.createHandlerFn(this, 'handleAdd')
				}, [ _('Add') ]));
			}

			dom.bindClassInstance(el, this);
			return el;
		}, this));
	}
});

var CBIAbstractValue = CBIAbstractElement.extend({
	__init__: function(map, section, option) {
		this.super('__init__', slice(arguments, 3));
		this.section = section;
		this.option = option;
		this.map = map;
		this.config = map.config;
		this.deps = [];
		this.rmempty = true;
		this.default = null;
		this.optional = false;
		this.retain = false;
	},

	depends: function(field, value) {
		var dep = field;
		if (typeof(field) == 'string') {
			dep = {};
			dep[field] = value;
		}
		this.deps.push(dep);
	},

	transformDepList: function(section_id) {
		return this.deps.map(function(d) {
			var out = {};
			for (var k in d)
				out[k.charAt(0) == '!' ? k : (k.indexOf('.') > -1 ? 'cbid.' + k : 'cbid.%s.%s.%s'.format(this.map.config, section_id, k))] = d[k];
			return out;
		}, this);
	},

	transformChoices: function() {
		if (!Array.isArray(this.keylist) || !this.keylist.length)
			return null;
		var choices = {};
		this.keylist.forEach(function(k, i) { choices[k] = this.vallist[i] }, this);
		return choices;
	},

	checkDepends: function(section_id) {
		return this.map.isDependencySatisfied(this.deps, this.map.config, section_id);
	},

	cbid: function(section_id) {
		if (section_id == null)
			L.raise('TypeError', 'Section ID required');
		return 'cbid.%s.%s.%s'.format(this.map.config, section_id, this.option);
	},

	load: function(section_id) {
		return this.map.data.get(this.map.config, section_id, this.option);
	},

	getUIElement: function(section_id) {
		var node = this.map.findElement('id', this.cbid(section_id)),
		    inst = node ? dom.findClassInstance(node) : null;
		return (inst instanceof UIElement) ? inst : null;
	},

	cfgvalue: function(section_id, set_value) {
		if (arguments.length == 2) {
			this.data = this.data || {};
			this.data[section_id] = set_value;
		}
		return this.data ? this.data[section_id] : null;
	},

	formvalue: function(section_id) {
		var el = this.getUIElement(section_id);
		return el ? el.getValue() : null;
	},

	validate: function() { return true },

	isValid: function(section_id) {
		var el = this.getUIElement(section_id);
		return el ? el.isValid() : true;
	},

	getValidationError: function(section_id) {
		var el = this.getUIElement(section_id);
		return el ? el.getValidationError() : '';
	},

	isActive: function(section_id) {
		var field = this.map.findElement('data-field', this.cbid(section_id));
		return field != null && !field.classList.contains('hidden');
	},

	setActive: function(section_id, active) {
		var field = this.map.findElement('data-field', this.cbid(section_id));
		if (field && field.classList.contains('hidden') == active) {
			field.classList.toggle('hidden', !active);
			return true;
		}
		return false;
	},

	triggerValidation: function(section_id) {
		var el = this.getUIElement(section_id);
		return el ? el.triggerValidation() : true;
	},

	// Hidden: removed unless retained. Empty: removed, or refused when
	// required. Otherwise written when it differs from what was loaded.
	parse: function(section_id) {
		var active = this.isActive(section_id),
		    title = this.stripTags(this.title).trim() || this.option;

		if (active && !this.isValid(section_id))
			return Promise.reject(new TypeError(
				_('Option "%s" contains an invalid input value.').format(title) + ' ' + this.getValidationError(section_id)));

		if (active) {
			var cval = this.cfgvalue(section_id), fval = this.formvalue(section_id);

			if (fval == null || fval == '') {
				if (this.rmempty || this.optional)
					return Promise.resolve(this.remove(section_id));
				return Promise.reject(new TypeError(_('Option "%s" must not be empty.').format(title)));
			}

			if (this.forcewrite || !isEqual(cval, fval))
				return Promise.resolve(this.write(section_id, fval));
		}
		else if (!this.retain) {
			return Promise.resolve(this.remove(section_id));
		}

		return Promise.resolve();
	},

	write: function(section_id, value) {
		return this.map.data.set(this.map.config, section_id, this.option, value);
	},

	remove: function(section_id) {
		return this.map.data.unset(this.map.config, section_id, this.option);
	}
});

var CBIValue = CBIAbstractValue.extend({
	__name__: 'CBI.Value',

	value: function(key, val) {
		this.keylist = (this.keylist || []).concat(String(key));
		this.vallist = (this.vallist || []).concat(dom.elem(val) ? val : String(val != null ? val : key));
	},

	render: function(option_index, section_id, in_table) {
		return Promise.resolve(this.cfgvalue(section_id))
			.then(this.renderWidget.bind(this, section_id, option_index))
			.then(this.renderFrame.bind(this, section_id, in_table, option_index));
	},

	renderFrame: function(section_id, in_table, option_index, nodes) {
		var deps = this.transformDepList(section_id),
		    el = E('div', {
			    'class': 'cbi-value',
			    'id': 'cbi-%s-%s-%s'.format(this.map.config, section_id, this.option),
			    'data-index': option_index,
			    'data-depends': deps,
			    'data-field': this.cbid(section_id),
			    'data-name': this.option,
			    'data-widget': this.__name__
		    });

		if (this.title) {
			el.appendChild(E('label', { 'class': 'cbi-value-title', 'for': 'widget.' + this.cbid(section_id) }, this.title));
			el.appendChild(E('div', { 'class': 'cbi-value-field' }));
		}

		if (nodes)
			(el.lastChild || el).appendChild(nodes);

		if (this.description)
			dom.append(el.lastChild || el, E('div', { 'class': 'cbi-value-description' }, this.description.trim()));

		if (deps.length)
			el.classList.add('hidden');

		el.addEventListener('widget-change', L.bind(this.map.checkDepends, this.map));
		dom.bindClassInstance(el, this);
		return el;
	},

	renderWidget: function(section_id, option_index, cfgvalue) {
		var value = (cfgvalue != null) ? cfgvalue : this.default;

		return new UITextfield(Array.isArray(value) ? value.join(' ') : value, {
			id: this.cbid(section_id),
			optional: this.optional || this.rmempty,
			datatype: this.datatype,
			placeholder: this.placeholder,
			password: this.password,
			validate: L.bind(this.validate, this, section_id),
			disabled: (this.readonly != null) ? this.readonly : this.map.readonly
		}).render();
	}
});

var CBIDynamicList = CBIValue.extend({
	__name__: 'CBI.DynamicList',

	renderWidget: function(section_id, option_index, cfgvalue) {
		return new UIDynamicList(L.toArray(cfgvalue != null ? cfgvalue : this.default), this.transformChoices(), {
			id: this.cbid(section_id),
			optional: this.optional || this.rmempty,
			datatype: this.datatype,
			placeholder: this.placeholder,
			validate: L.bind(this.validate, this, section_id),
			disabled: (this.readonly != null) ? this.readonly : this.map.readonly
		}).render();
	}
});

var CBIListValue = CBIValue.extend({
	__name__: 'CBI.ListValue',

	__init__: function() {
		this.super('__init__', arguments);
		this.widget = 'select';
	},

	renderWidget: function(section_id, option_index, cfgvalue) {
		return new UISelect(cfgvalue != null ? cfgvalue : this.default, this.transformChoices(), {
			id: this.cbid(section_id),
			sort: this.keylist,
			optional: this.optional,
			validate: L.bind(this.validate, this, section_id),
			disabled: (this.readonly != null) ? this.readonly : this.map.readonly
		}).render();
	}
});

var CBIFlagValue = CBIValue.extend({
	__name__: 'CBI.FlagValue',

	__init__: function() {
		this.super('__init__', arguments);
		this.enabled = '1';
		this.disabled = '0';
		this.default = this.disabled;
	},

	renderWidget: function(section_id, option_index, cfgvalue) {
		return new UICheckbox(cfgvalue != null ? cfgvalue : this.default, {
			id: this.cbid(section_id),
			value_enabled: this.enabled,
			value_disabled: this.disabled,
			validate: L.bind(this.validate, this, section_id),
			disabled: (this.readonly != null) ? this.readonly : this.map.readonly
		}).render();
	},

	formvalue: function(section_id) {
		var el = this.getUIElement(section_id);
		return (el && el.isChecked()) ? this.enabled : this.disabled;
	},

	// The default is left unwritten unless the option is required.
	parse: function(section_id) {
		if (this.isActive(section_id)) {
			var fval = this.formvalue(section_id);

			if (!this.isValid(section_id))
				return Promise.reject(new TypeError(_('Option "%s" contains an invalid input value.').format(this.stripTags(this.title).trim() || this.option)));

			if (fval == this.default && (this.optional || this.rmempty))
				return Promise.resolve(this.remove(section_id));

			return Promise.resolve(this.write(section_id, fval));
		}
		else if (!this.retain) {
			return Promise.resolve(this.remove(section_id));
		}
	}
});

var CBIDummyValue = CBIValue.extend({
	__name__: 'CBI.DummyValue',

	renderWidget: function(section_id, option_index, cfgvalue) {
		var value = (cfgvalue != null) ? cfgvalue : this.default;
		return E([
			E('div', {}, [ value ]),
			new UIHiddenfield(value, { id: this.cbid(section_id) }).render()
		]);
	},

	write: function() {},
	remove: function() {}
});

var form = baseclass.extend({
	Map: CBIMap,
	TypedSection: CBITypedSection,
	NamedSection: CBINamedSection,
	AbstractValue: CBIAbstractValue,
	Value: CBIValue,
	DynamicList: CBIDynamicList,
	ListValue: CBIListValue,
	Flag: CBIFlagValue,
	DummyValue: CBIDummyValue
});

/* ---- tools.widgets: NetworkSelect ---------------------------------------- */

// Logical interfaces only: a configured value that is not one is not offered
// and so is not selected; custom names are checked as UCI names.
var CBINetworkSelect = CBIListValue.extend({
	__name__: 'CBI.NetworkSelect',

	load: function(section_id) {
		return network.prototype.getNetworks().then(L.bind(function(networks) {
			this.networks = networks;
			return this.super('load', section_id);
		}, this));
	},

	filter: function() { return true },

	renderIfaceBadge: function(net) {
		var span = E('span', { 'class': 'ifacebadge' }, net.getName() + ': '),
		    devices = net.isBridge() ? net.getDevices() : L.toArray(net.getDevice());

		devices.forEach(function(d) {
			span.appendChild(E('img', {
				'title': d.getI18n(),
				'src': L.resource('icons/%s%s.png'.format(d.getType(), d.isUp() ? '' : '_disabled'))
			}));
		});

		if (!devices.length)
			span.appendChild(E('em', _('(no interfaces attached)')));

		return span;
	},

	renderWidget: function(section_id, option_index, cfgvalue) {
		var wanted = L.toArray(cfgvalue != null ? cfgvalue : this.default),
		    values = [], choices = {};

		if (!this.multiple && (this.rmempty || this.optional))
			choices[''] = E('em', _('unspecified'));

		(this.networks || []).forEach(function(net) {
			var name = net.getName();

			if (name == this.exclude || !this.filter(section_id, name))
				return;
			if (name == 'loopback' && !this.loopback)
				return;
			if (this.novirtual && net.isVirtual())
				return;

			if (wanted.indexOf(name) > -1)
				values.push(name);

			choices[name] = this.renderIfaceBadge(net);
		}, this);

		return new UIDropdown(this.multiple ? values : values[0], choices, {
			id: this.cbid(section_id),
			multiple: this.multiple,
			optional: this.optional || this.rmempty,
			disabled: (this.readonly != null) ? this.readonly : this.map.readonly,
			select_placeholder: E('em', _('unspecified')),
			datatype: this.multiple ? 'list(uciname)' : 'uciname',
			validate: L.bind(this.validate, this, section_id),
			create: !this.nocreate
		}).render();
	}
});

var widgets = baseclass.extend({ NetworkSelect: CBINetworkSelect });

/* ---- view ---------------------------------------------------------------- */

var view = baseclass.extend({
	__init__: function() {
		var vp = document.getElementById('view');

		Promise.resolve(this.load()).then(L.bind(this.render, this)).then(L.bind(function(nodes) {
			dom.content(vp, nodes);
			dom.append(vp, this.addFooter());
			settleReady.resolve();
		}, this)).catch(function(e) {
			dom.content(vp, E('div', { 'class': 'alert-message error' }, [ E('h4', 'Error'), E('pre', [ String(e && e.stack || e) ]) ]));
			standin.errors.push(String(e && e.message || e));
			settleReady.reject(e);
		});
	},

	load: function() {},
	render: function() {},

	handleSave: function() {
		return Promise.all(slice(document.querySelectorAll('#maincontent .cbi-map')).map(function(m) {
			return dom.callClassMethod(m, 'save');
		}));
	},

	handleSaveApply: function(ev, mode) {
		return this.handleSave(ev).then(function() { return ui.prototype.changes.apply(mode == '0') });
	},

	handleReset: function() {
		return Promise.all(slice(document.querySelectorAll('#maincontent .cbi-map')).map(function(m) {
			return dom.callClassMethod(m, 'reset');
		}));
	},

	addFooter: function() {
		if (!this.handleSaveApply && !this.handleSave && !this.handleReset)
			return E([]);

		var button = L.bind(function(handler, cls, title) {
			return this[handler] ? E('button', {
				'class': 'cbi-button ' + cls,
				'click': ui.prototype.createHandlerFn(this, handler)
			}, [ title ]) : '';
		}, this);

		return E('div', { 'class': 'cbi-page-actions' }, [
			button('handleSaveApply', 'cbi-button-apply', _('Save & Apply')), ' ',
			button('handleSave', 'cbi-button-save', _('Save')), ' ',
			button('handleReset', 'cbi-button-reset', _('Reset'))
		]);
	}
});

/* ---- modules and views ---------------------------------------------------- */

// baseclass and view are classes; the others are used as instances.
var modules = {
	baseclass: baseclass, view: view,
	dom: new (baseclass.extend(dom))(), rpc: new rpc(), validation: new validation(), ui: new ui(),
	uci: new uci(), poll: new poll(), network: new network(), form: new form(), 'tools.widgets': new widgets()
};

function requireModule(name) {
	if (!modules[name])
		L.raise('NetworkError', 'No stand-in for module "%s"', name);
	return modules[name];
}

L.view = view;

// Like LuCI: the "'require x [as y]';" lines of a view name its modules,
// and the view's source is the body of a function taking them.
function loadView(path) {
	return fetch(L.resource('view', path + '.js')).then(function(res) {
		if (!res.ok)
			L.raise('NetworkError', 'HTTP %d for view %s', res.status, path);
		return res.text();
	}).then(function(source) {
		var names = [], mods = [], re = /^\s*['"]require\s+([\w.]+)(?:\s+as\s+(\w+))?['"];/gm, m;

		while ((m = re.exec(source)) != null) {
			names.push(m[2] || m[1].replace(/\W/g, '_'));
			mods.push(requireModule(m[1]));
		}

		var factory = new Function(names.join(','), source + '\n//# sourceURL=' + L.resource('view', path + '.js'));
		var cls = factory.apply(L, mods);
		return new cls();
	});
}

standin.loadView = loadView;

document.addEventListener('DOMContentLoaded', function() {
	var path = document.body.getAttribute('data-view');
	if (path)
		loadView(path).catch(function(e) {
			standin.errors.push(String(e && e.message || e));
			settleReady.reject(e);
		});
});

})(window, document);
