'use strict';
'require view';
'require poll';
'require rpc';
'require ui';
'require dom';

/*
 * Live status of ndproxy from its ubus object; docs/status.md has the shape
 * of the reply. A call to an object that nobody has registered comes back
 * with the ubus status NOT_FOUND, which is how a stopped daemon shows here.
 */

var callStatus = rpc.declare({
	object: 'ndproxy',
	method: 'status'
});

var callReload = rpc.declare({
	object: 'ndproxy',
	method: 'reload'
});

var UBUS_STATUS_INVALID_ARGUMENT = 2,
    UBUS_STATUS_NOT_FOUND = 4;

// Without `expect`, rpc resolves with the reply object on success and with
// the numeric ubus status otherwise; a refused call (ACL) rejects.
function fetchStatus() {
	return callStatus().then(function(reply) {
		return L.isObject(reply) ? { status: reply } : { code: reply };
	}, function(err) {
		return { error: err };
	});
}

var proxyStates = {
	running: [ _('Running'), 'success' ],
	waiting: [ _('Waiting'), 'warning' ]
};

var targetStates = {
	probing: [ _('Probing'), 'notice' ],
	valid: [ _('Valid'), 'success' ],
	refreshing: [ _('Refreshing'), 'notice' ],
	absent: [ _('Absent'), 'important' ]
};

var verifyNames = {
	probe: _('Probe'),
	auto: _('Auto'),
	'static': _('Static')
};

var routeNames = {
	host: _('Host routes'),
	prefix: _('Prefix routes'),
	none: _('None')
};

var learnedNames = {
	probe: _('Probe'),
	route: _('Route')
};

var dropReasons = {
	short: _('Too short'),
	not_ipv6: _('Not IPv6'),
	extension_header: _('Extension header'),
	hop_limit: _('Hop limit not 255'),
	icmp_code: _('ICMPv6 code not 0'),
	checksum: _('Bad checksum'),
	bad_option: _('Bad option'),
	bad_target: _('Bad target address'),
	bad_source: _('Bad source address'),
	bad_destination: _('Bad destination address'),
	bad_dad: _('Bad duplicate address detection')
};

var ignoreReasons = {
	outside_prefixes: _('Outside the prefixes'),
	own_address: _('Own address'),
	absent: _('Host absent'),
	unverified: _('Host not verified'),
	rate_limited: _('Probe budget spent'),
	table_full: _('Host table full')
};

function badge(states, state) {
	var s = states[state] || [ state, '' ];
	return E('span', { 'class': 'label ' + s[1], 'data-state': state }, [ s[0] ]);
}

function list(values) {
	values = L.toArray(values);
	return values.length ? values.join(', ') : E('em', _('none'));
}

function keyValueTable(rows) {
	return E('table', { 'class': 'table' }, rows.map(function(row) {
		return E('tr', { 'class': 'tr' }, [
			E('td', { 'class': 'td left', 'width': '33%' }, [ row[0] ]),
			E('td', { 'class': 'td left' }, [ row[1] ])
		]);
	}));
}

function table(id, titles, rows, placeholder) {
	var t = E('table', { 'class': 'table cbi-section-table', 'id': id }, [
		E('tr', { 'class': 'tr table-titles' }, titles.map(function(title) {
			return E('th', { 'class': 'th' }, [ title ]);
		}))
	]);

	rows.forEach(function(row) {
		t.appendChild(E('tr', { 'class': 'tr' }, row.map(function(cell, i) {
			return E('td', { 'class': 'td', 'data-title': titles[i] }, [ cell ]);
		})));
	});

	if (!rows.length)
		t.appendChild(E('tr', { 'class': 'tr placeholder' }, [
			E('td', { 'class': 'td', 'colspan': titles.length }, [ E('em', placeholder) ])
		]));

	return t;
}

// "hop_limit: 1" lines under the sum of a reason map.
function reasons(counts, names) {
	var keys = Object.keys(counts || {}).filter(function(k) { return counts[k] > 0 }).sort(),
	    total = keys.reduce(function(sum, k) { return sum + counts[k] }, 0);

	return E('span', {}, [ String(total) ].concat(keys.map(function(k) {
		return E('div', { 'class': 'cbi-value-description', 'data-reason': k }, [ '%s: %d'.format(names[k] || k, counts[k]) ]);
	})));
}

function renderCounters(c) {
	if (!c)
		return E('em', _('No counters'));

	return keyValueTable([
		[ _('Solicitations received'), String(c.received) ],
		[ _('Advertisements sent'), String(c.answered) ],
		[ _('Probes sent'), String(c.probes_sent) ],
		[ _('Hosts verified'), String(c.verified) ],
		[ _('Hosts expired'), String(c.expired) ],
		[ _('Absent hosts forgotten to make room'), String(c.evicted || 0) ],
		[ _('Invalid solicitations dropped'), reasons(c.dropped, dropReasons) ],
		[ _('Solicitations not answered'), reasons(c.ignored, ignoreReasons) ]
	]);
}

// Each prefix with where it came from: config, or an interface of prefix_from.
function prefixes(p) {
	var sources = p.prefix_sources || {};

	return list(L.toArray(p.prefixes).map(function(prefix) {
		return sources[prefix] ? '%s (%s)'.format(prefix, sources[prefix]) : prefix;
	}));
}

function renderProxy(p) {
	var state = [ badge(proxyStates, p.state) ];

	if (p.state != 'running' && p.waiting_for)
		state.push(' ', E('span', { 'class': 'waiting-for' }, [ p.waiting_for ]));

	var targets = L.toArray(p.targets).map(function(t) {
		return [
			E('code', [ t.address ]),
			badge(targetStates, t.state),
			t['interface'] || '-',
			t.learned ? (learnedNames[t.learned] || t.learned) : '-',
			'%t'.format(Math.floor(t.age_seconds || 0))
		];
	});

	return E('div', { 'class': 'cbi-section', 'data-proxy': p.name }, [
		E('h3', [ p.name ]),
		keyValueTable([
			[ _('State'), E('span', state) ],
			[ _('Upstream interface'), p.upstream ],
			[ _('Downstream interfaces'), list(p.downstream) ],
			[ _('Prefixes'), prefixes(p) ],
			[ _('Verification'), verifyNames[p.verify] || p.verify ],
			[ _('Routes'), routeNames[p.route] || p.route ]
		]),
		E('h4', _('Hosts')),
		table('targets-' + p.name, [ _('Address'), _('State'), _('Interface'), _('Learned by'), _('Age') ],
			targets, _('No hosts asked for yet')),
		E('h4', _('Counters')),
		renderCounters(p.counters)
	]);
}

function renderNotRunning() {
	return E('div', { 'class': 'alert-message warning', 'id': 'ndproxy-not-running' }, [
		E('h4', _('ndproxy is not running')),
		E('p', _('Start it under System → Startup. If it does not start, its configuration is probably not valid: the system log (logread -e ndproxy) says why.'))
	]);
}

function renderError(data) {
	if (data.code == UBUS_STATUS_NOT_FOUND)
		return renderNotRunning();

	var reason = data.error ? (data.error.message || String(data.error)) : rpc.getStatusText(data.code);

	return E('div', { 'class': 'alert-message error', 'id': 'ndproxy-error' }, [
		E('h4', _('The status of ndproxy is not available')),
		E('p', [ reason ])
	]);
}

function renderStatus(st) {
	var nodes = [],
	    proxies = L.toArray(st.proxies),
	    sysctls = L.toArray(st.sysctls),
	    routes = L.toArray(st.routes),
	    warnings = L.toArray(st.warnings);

	if (warnings.length)
		nodes.push(E('div', { 'class': 'alert-message warning', 'id': 'ndproxy-warnings' }, [
			E('h4', _('Warnings')),
			E('ul', warnings.map(function(w) { return E('li', [ w ]) }))
		]));

	if (!proxies.length)
		nodes.push(E('div', { 'class': 'cbi-section' }, [ E('em', _('No proxy is configured.')) ]));

	proxies.forEach(function(p) { nodes.push(renderProxy(p)) });

	nodes.push(E('div', { 'class': 'cbi-section', 'id': 'ndproxy-sysctls' }, [
		E('h3', _('System settings changed')),
		E('div', { 'class': 'cbi-section-descr' },
			_('ndproxy restores these values when it stops.')),
		table('sysctls', [ _('Setting'), _('Original value'), _('Value now') ],
			sysctls.map(function(s) { return [ E('code', [ s.key ]), s.original, s.set ] }),
			_('None'))
	]));

	nodes.push(E('div', { 'class': 'cbi-section', 'id': 'ndproxy-routes' }, [
		E('h3', _('Routes')),
		E('div', { 'class': 'cbi-section-descr' },
			_('The routes ndproxy owns (route protocol 78). It removes them when it stops.')),
		table('routes', [ _('Route') ],
			routes.map(function(r) { return [ E('code', [ r ]) ] }),
			_('None'))
	]));

	if (st.config)
		nodes.push(E('div', { 'class': 'cbi-section' }, [
			E('small', _('Configuration file: %s').format(st.config))
		]));

	return nodes;
}

return view.extend({
	load: function() {
		return fetchStatus();
	},

	update: function(data) {
		var node = document.getElementById('ndproxy-status');

		if (node)
			dom.content(node, data.status ? renderStatus(data.status) : renderError(data));
	},

	// Through LuCI a failed call brings its status only, not the daemon's
	// {"error": ...}; should the text come along, it is shown too.
	handleReload: function(ev) {
		return callReload().then(function(reply) {
			var code = L.isObject(reply) ? (reply.error != null ? UBUS_STATUS_INVALID_ARGUMENT : 0) : reply,
			    detail = (L.isObject(reply) && reply.error != null) ? E('pre', [ String(reply.error) ]) : '';

			if (code == 0)
				ui.addNotification(null, E('p', _('ndproxy has read its configuration again.')), 'info');
			else if (code == UBUS_STATUS_NOT_FOUND)
				ui.addNotification(null, E('p', _('ndproxy is not running.')), 'warning');
			else if (code == UBUS_STATUS_INVALID_ARGUMENT)
				ui.addNotification(null, [
					E('p', _('The configuration is not valid, so ndproxy keeps running with the previous one. The system log (logread -e ndproxy) says what is wrong.')),
					detail
				], 'error');
			else
				ui.addNotification(null, E('p', _('ndproxy could not read its configuration: %s').format(rpc.getStatusText(code))), 'error');
		}, function(err) {
			ui.addNotification(null, E('p', err.message || String(err)), 'error');
		}).then(fetchStatus).then(L.bind(this.update, this));
	},

	render: function(data) {
		poll.add(L.bind(function() {
			return fetchStatus().then(L.bind(this.update, this));
		}, this), 5);

		return E('div', {}, [
			E('h2', _('NDP Proxy')),
			E('div', { 'class': 'cbi-map-descr' },
				_('The proxies ndproxy runs, the hosts it answers for and what it changed on this system. The page refreshes every five seconds.')),
			E('div', { 'class': 'right' }, [
				E('button', {
					'class': 'cbi-button cbi-button-action',
					'id': 'ndproxy-reload',
					'click': ui.createHandlerFn(this, 'handleReload')
				}, [ _('Reload configuration') ])
			]),
			E('div', { 'id': 'ndproxy-status' },
				data.status ? renderStatus(data.status) : renderError(data))
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
