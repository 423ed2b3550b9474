'use strict';
'require view';
'require form';
'require uci';
'require validation';
'require tools.widgets as widgets';

/*
 * Settings of ndproxy: one form over /etc/config/ndproxy. Every option, its
 * default and its range are those of docs/config.md. The checks here only
 * save a round trip: the daemon checks the whole file again when it reloads
 * and keeps its last good configuration if the new one is bad.
 */

// Durations are a whole number with the unit ms, s, m or h; a bare number
// counts seconds (docs/config.md, "Values").
var durationUnits = { ms: 1, s: 1000, m: 60000, h: 3600000 };

function parseDuration(value) {
	var m = /^(\d+)(ms|s|m|h)?$/.exec(value);
	return m ? +m[1] * durationUnits[m[2] || 's'] : null;
}

// A DNS-SD service type as ndproxy takes it: _name._tcp or _name._udp, the
// name 1 to 15 characters, optionally with .local, in any case.
function validateService(section_id, value) {
	if (value == '' || /^_[^._ \t]{1,15}\._(tcp|udp)(\.local)?\.?$/i.test(value))
		return true;

	return _('Expecting: %s').format(_('a service type like _ssh._tcp'));
}

// A prefix whose addresses may cross a reflector: IPv6 or IPv4, not
// link-local (those never cross).
// validateDNSServer accepts an address a host behind the router can reach:
// not link-local, multicast, unspecified or loopback.
function validateDNSServer(section_id, value) {
	var words = value ? validation.parseIPv6(value) : null;

	if (words && ((words[0] & 0xffc0) == 0xfe80 || (words[0] >> 8) == 0xff ||
	              (words.slice(0, 7).every(function(w) { return w == 0 }) && words[7] <= 1)))
		return _('Expecting: %s').format(_('a global or unique local address'));

	return true;
}

function validateReachable(section_id, value) {
	var m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(value), v4, words;

	if (value == '')
		return true;

	if (m && (v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(m[1])) &&
	    v4.slice(1).every(function(o) { return +o <= 255 }) && +m[2] <= 32)
		return (+v4[1] == 169 && +v4[2] == 254)
			? _('Expecting: %s').format(_('a prefix that is not link-local')) : true;

	if (m && (words = validation.parseIPv6(m[1])) && +m[2] <= 128)
		return ((words[0] & 0xffc0) == 0xfe80)
			? _('Expecting: %s').format(_('a prefix that is not link-local')) : true;

	return _('Expecting: %s').format(_('an IPv6 or IPv4 prefix like fd2f::/64'));
}

// LuCI calls a validate function for empty values too.
function durationValidator(min, max) {
	return function(section_id, value) {
		var ms = parseDuration(value);

		if (value == '')
			return true;

		if (ms == null)
			return _('Expecting: %s').format(_('a whole number with the unit ms, s, m or h, such as 30s'));

		if (ms < min[0] || ms > max[0])
			return _('Expecting: %s').format(_('a duration from %s to %s').format(min[1], max[1]));

		return true;
	};
}

// RFC 5952 text of eight 16-bit words: the longest run of two or more zero
// words becomes "::".
function formatIPv6(words) {
	var start = -1, len = 1;

	for (var i = 0; i < 8; i++) {
		var n = 0;

		while (i + n < 8 && words[i + n] == 0)
			n++;

		if (n > len) {
			start = i;
			len = n;
		}

		i += n;
	}

	var hex = words.map(function(w) { return w.toString(16) });

	if (start < 0)
		return hex.join(':');

	return hex.slice(0, start).join(':') + '::' + hex.slice(start + len).join(':');
}

/*
 * A prefix as docs/config.md ("Prefixes") wants it. The form address/length
 * is LuCI's datatype cidr6, checked here with LuCI's own message rather than
 * set as the datatype: after cidr6, LuCI hands the validate function only
 * the length it checked last, not the whole value.
 */
function validatePrefix(section_id, value) {
	var m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(value),
	    words = m ? validation.parseIPv6(m[1]) : null,
	    len = m ? +m[2] : -1;

	// At least one of prefix and prefix_from, unless the RA relay is on:
	// then the upstream's own on-link prefixes are proxied.
	if (value == '')
		return (L.toArray(this.section.formvalue(section_id, 'prefix')).length ||
		        L.toArray(this.section.formvalue(section_id, 'prefix_from')).length ||
		        this.section.formvalue(section_id, 'ra_relay') == '1')
			? true : _('Expecting: %s').format(_('a prefix, an interface to take prefixes from, or the RA relay'));

	if (!words || len > 128)
		return _('Expecting: %s').format(_('valid IPv6 CIDR'));

	if (len < 64)
		return _('Expecting: %s').format(_('a prefix length from 64 to 128'));

	// Neighbor Discovery is never asked about these (RFC 4291, section 2.4).
	var zeroes = words.slice(0, 7).every(function(w) { return w == 0 });

	if ((words[0] & 0xffc0) == 0xfe80 || (words[0] >> 8) == 0xff ||
	    (zeroes && words[7] <= 1) ||
	    (words.slice(0, 5).every(function(w) { return w == 0 }) && words[5] == 0xffff))
		return _('Expecting: %s').format(_('a global or unique local prefix, not link-local, multicast, loopback, unspecified or IPv4-mapped'));

	var masked = words.map(function(w, i) {
		var bits = Math.min(Math.max(len - 16 * i, 0), 16);
		return w & ((0xffff << (16 - bits)) & 0xffff);
	});

	if (masked.some(function(w, i) { return w != words[i] }))
		return _('%s has host bits set; did you mean %s?').format(value, formatIPv6(masked) + '/' + len);

	return true;
}

/*
 * widgets.NetworkSelect offers the logical interfaces of /etc/config/network
 * and silently drops a configured value that is not one of them, so saving
 * would delete it. ndproxy also takes device names (eth0, wlan0), so such a
 * value is kept as a choice of its own. The option is changed, not
 * subclassed: NetworkSelect's load() calls super('load') from a promise
 * callback, and in an instance of a subclass that finds NetworkSelect's
 * load() itself again, for ever.
 */
function keepDevices(o) {
	var renderWidget = o.renderWidget,
	    renderIfaceBadge = o.renderIfaceBadge;

	o.renderWidget = function(section_id, option_index, cfgvalue) {
		var networks = this.networks || [],
		    known = {};

		networks.forEach(function(n) { known[n.getName()] = true });

		this.networks = networks.concat(L.toArray(cfgvalue).filter(function(name) {
			return !known[name];
		}).map(function(name) {
			return { isDevice: true, getName: function() { return name }, isVirtual: function() { return false } };
		}));

		try {
			return renderWidget.call(this, section_id, option_index, cfgvalue);
		}
		finally {
			this.networks = networks;
		}
	};

	o.renderIfaceBadge = function(network) {
		if (network.isDevice)
			return E('span', { 'class': 'ifacebadge' }, [ network.getName(), ' ', E('em', _('(device)')) ]);

		return renderIfaceBadge.call(this, network);
	};

	return o;
}

// The name ndproxy gives a section in its log and status: its UCI name, or
// @proxy[N] for an anonymous one, counting named sections too.
function sectionName(section_id) {
	var sections = uci.sections('ndproxy', 'proxy'),
	    index = sections.findIndex(function(s) { return s['.name'] == section_id });

	if (index >= 0 && sections[index]['.anonymous'])
		return '@proxy[%d]'.format(index);

	return section_id;
}

function downstreams(section) {
	return function(section_id) {
		return L.toArray(section.formvalue(section_id, 'downstream'));
	};
}

return view.extend({
	load: function() {
		return uci.load('ndproxy');
	},

	render: function() {
		var m, s, o, globals;

		m = new form.Map('ndproxy', _('NDP Proxy'),
			_('ndproxy answers IPv6 Neighbor Solicitations on an upstream link for hosts that live behind a downstream link, so that hosts one hop behind this router can use addresses from the upstream prefix.'));

		// At most one global section, named or anonymous; without one every
		// global option takes its default.
		globals = uci.sections('ndproxy', 'global');
		s = m.section(form.NamedSection, globals.length ? globals[0]['.name'] : 'global', 'global', _('Global Settings'));
		s.addremove = !globals.length;

		o = s.option(form.ListValue, 'log_level', _('Log level'), _('The lowest level that is logged.'));
		o.value('debug', _('Debug'));
		o.value('info', _('Info'));
		o.value('warn', _('Warning'));
		o.value('error', _('Error'));
		o.default = 'info';

		s = m.section(form.TypedSection, 'proxy', _('Proxies'),
			_('Each proxy answers on its upstream interface for the addresses in its prefixes that live behind its downstream interfaces.'));
		s.anonymous = true;
		s.addremove = true;
		s.addbtntitle = _('Add proxy');

		s.tab('general', _('General Settings'));
		s.tab('relay', _('RA Relay'));
		s.tab('advanced', _('Advanced Settings'));

		var downstreamsOf = downstreams(s);

		o = s.taboption('general', form.DummyValue, '_name', _('Name'), _('How ndproxy names this proxy in its log and on the status page.'));
		o.cfgvalue = sectionName;

		o = s.taboption('general', form.Flag, 'enabled', _('Enabled'),
			_('A disabled proxy is still checked, but does nothing.'));
		o.default = o.enabled;
		o.rmempty = false;

		o = keepDevices(s.taboption('general', widgets.NetworkSelect, 'upstream', _('Upstream interface'),
			_('The link where neighbours ask for the addresses, usually the one facing the ISP or provider router. A logical interface is followed to its device as netifd reports it; any other name is a device.')));
		o.rmempty = false;

		o = keepDevices(s.taboption('general', widgets.NetworkSelect, 'downstream', _('Downstream interfaces'),
			_('The links where the hosts live.')));
		o.multiple = true;
		// The value a validate function gets here is the last name only (the
		// datatype is list(uciname)), so the whole selection is read instead.
		o.validate = function(section_id, value) {
			var upstream = this.section.formvalue(section_id, 'upstream');

			if (upstream && downstreamsOf(section_id).indexOf(upstream) > -1)
				return _('The upstream interface cannot also be a downstream interface');

			return true;
		};

		o = s.taboption('general', form.DynamicList, 'prefix', _('Prefixes'),
			_('The addresses to answer for, as IPv6 prefixes from /64 to /128. Write /128 for a single address.'));
		o.validate = validatePrefix;
		o.placeholder = '2001:db8:abc:123:40::/76';

		o = keepDevices(s.taboption('general', widgets.NetworkSelect, 'prefix_from', _('Prefixes from'),
			_('Interfaces whose prefixes are answered for too, followed as they change: their on-link prefixes of /64 or longer and their delegated prefixes of /64 or longer.')));
		o.multiple = true;

		o = s.taboption('general', form.ListValue, 'verify', _('Verification'),
			_('How ndproxy decides that a host exists before it answers for it. <em>Probe</em>: the host answers a Neighbor Solicitation that ndproxy sends on a downstream link. <em>Auto</em>: the routing table sends the address somewhere other than the upstream; a host on an on-link route is probed. <em>Static</em>: every address in the prefixes is answered for.'));
		o.value('probe', _('Probe'));
		o.value('auto', _('Auto'));
		o.value('static', _('Static'));
		o.default = 'probe';
		o.validate = function(section_id, value) {
			if (value == 'probe' && !downstreamsOf(section_id).length)
				return _('Probing needs at least one downstream interface');

			return true;
		};

		o = s.taboption('general', form.ListValue, 'route', _('Routes'),
			_('Which routes ndproxy installs. <em>Host routes</em>: a /128 to each verified host, on the downstream link it was found on. <em>Prefix routes</em>: each prefix to the one downstream interface. <em>None</em>: routing is left to someone else. <em>Automatic</em>: host routes with probe, none with auto; with static, prefix routes when there is exactly one downstream interface, otherwise none.'));
		o.value('', _('Automatic'));
		o.value('host', _('Host routes'));
		o.value('prefix', _('Prefix routes'));
		o.value('none', _('None'));
		o.validate = function(section_id, value) {
			var verify = this.section.formvalue(section_id, 'verify'),
			    n = downstreamsOf(section_id).length;

			if (value == 'host' && verify == 'static')
				return _('Static verification learns no hosts to route to');

			if (value == 'host' && !n)
				return _('Host routes need a downstream interface');

			if (value == 'prefix' && n != 1)
				return _('Prefix routes need exactly one downstream interface');

			return true;
		};

		o = s.taboption('relay', form.Flag, 'ra_relay', _('Relay Router Advertisements'),
			_('Send the upstream router\'s advertisements on to the downstream links, from this router and marked as proxied, so that downstream hosts configure addresses from the upstream prefix. Without prefixes of its own, the proxy then answers for the upstream\'s on-link prefixes.'));
		o.default = o.disabled;
		o.validate = function(section_id, value) {
			// A checkbox validates its input's value attribute, which is
			// the same checked or not: ask the option instead.
			if (this.formvalue(section_id) == '1' && !downstreamsOf(section_id).length)
				return _('Relaying needs at least one downstream interface');

			return true;
		};

		o = s.taboption('relay', form.Flag, 'ra_onlink', _('Keep on-link flags'),
			_('Pass the on-link (L) flag of each prefix on as the upstream router set it. By default it is cleared, so that downstream hosts send all their traffic through this router.'));
		o.default = o.disabled;
		o.depends('ra_relay', '1');

		o = s.taboption('relay', form.DynamicList, 'ra_dns', _('DNS servers'),
			_('Announce these DNS servers instead of the upstream\'s. Without them, the upstream\'s global servers are passed on and its link-local ones dropped.'));
		o.datatype = 'ip6addr';
		o.validate = validateDNSServer;
		o.placeholder = '2001:db8:abc:123::53';
		o.depends('ra_relay', '1');

		o = s.taboption('relay', form.Value, 'ra_interval', _('Advertisement interval'),
			_('The longest time between unsolicited advertisements on the downstream links. From 4s to 30m.'));
		o.placeholder = '3m';
		o.validate = durationValidator([ 4000, '4s' ], [ 1800000, '30m' ]);
		o.depends('ra_relay', '1');

		o = s.taboption('relay', form.Value, 'ra_holddown', _('Loop hold-down'),
			_('How long relaying stops after a loop is seen: an advertisement on the upstream that another proxy relayed, or any advertisement on a downstream link. From 1s to 24h.'));
		o.placeholder = '10m';
		o.validate = durationValidator([ 1000, '1s' ], [ 86400000, '24h' ]);
		o.depends('ra_relay', '1');

		o = s.taboption('advanced', form.Value, 'route_metric', _('Route metric'),
			_('The metric of the routes ndproxy installs. A lower metric wins over a route for the same prefix, such as the on-link /64 of a whole proxied /64 (metric 256 from a Router Advertisement, 1024 by hand).'));
		o.datatype = 'and(uinteger,range(1,2147483647))';
		o.placeholder = '64';
		o.depends({ route: 'none', '!reverse': true });

		o = s.taboption('advanced', form.Flag, 'router', _('Router flag'),
			_('Set the R (router) flag in the Neighbor Advertisements ndproxy sends.'));
		o.default = o.disabled;

		o = s.taboption('advanced', form.Flag, 'override', _('Override flag'),
			_('Set the O (override) flag in the Neighbor Advertisements ndproxy sends.'));
		o.default = o.enabled;

		o = s.taboption('advanced', form.Value, 'valid_ttl', _('Valid time'),
			_('How long a verified host is answered for before ndproxy verifies it again. From 1s to 1h.'));
		o.placeholder = '30s';
		o.validate = durationValidator([ 1000, '1s' ], [ 3600000, '1h' ]);

		o = s.taboption('advanced', form.Value, 'invalid_ttl', _('Invalid time'),
			_('How long ndproxy waits before it probes again for a host that did not answer. From 0 to 1h.'));
		o.placeholder = '10s';
		o.validate = durationValidator([ 0, '0' ], [ 3600000, '1h' ]);

		o = s.taboption('advanced', form.Value, 'probe_timeout', _('Probe timeout'),
			_('How long ndproxy waits for the answer to each probe before it sends the next. From 10ms to 10s.'));
		o.placeholder = '1s';
		o.validate = durationValidator([ 10, '10ms' ], [ 10000, '10s' ]);

		o = s.taboption('advanced', form.Value, 'probe_retries', _('Probe retries'),
			_('How many probes ndproxy sends before it decides that a host is absent.'));
		o.datatype = 'and(uinteger,range(1,10))';
		o.placeholder = '3';

		// Static verification learns no hosts: nothing to time or probe.
		[ 'valid_ttl', 'invalid_ttl', 'probe_timeout', 'probe_retries' ].forEach(function(name) {
			s.getOption(name).depends('verify', 'probe');
			s.getOption(name).depends('verify', 'auto');
		});

		s = m.section(form.TypedSection, 'mdns', _('mDNS Reflectors'),
			_('Each reflector carries multicast DNS (names like <em>host.local</em> and the services hosts announce) between its interfaces, keeping back addresses the other side cannot reach.'));
		s.anonymous = true;
		s.addremove = true;
		s.addbtntitle = _('Add reflector');

		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.default = o.enabled;
		o.rmempty = false;

		o = keepDevices(s.option(widgets.NetworkSelect, 'interface', _('Interfaces'),
			_('The links to reflect between, at least two.')));
		o.multiple = true;
		o.rmempty = false;
		o.validate = function(section_id, value) {
			if (L.toArray(this.section.formvalue(section_id, 'interface')).length < 2)
				return _('Expecting: %s').format(_('at least two interfaces'));

			return true;
		};

		o = s.option(form.Flag, 'ipv6', _('IPv6'), _('Reflect mDNS over IPv6.'));
		o.default = o.enabled;

		o = s.option(form.Flag, 'ipv4', _('IPv4'), _('Reflect mDNS over IPv4.'));
		o.default = o.enabled;
		o.validate = function(section_id, value) {
			if (this.formvalue(section_id) == '0' && this.section.formvalue(section_id, 'ipv6') == '0')
				return _('At least one of IPv4 and IPv6 must be on');

			return true;
		};

		o = s.option(form.Flag, 'filter_addresses', _('Filter addresses'),
			_('Keep link-local addresses, and unique local IPv6 addresses outside the reachable prefixes, from crossing.'));
		o.default = o.enabled;

		o = s.option(form.DynamicList, 'reachable', _('Reachable prefixes'),
			_('Addresses in these prefixes cross although they would be filtered: a unique local prefix that the other links route.'));
		o.validate = validateReachable;
		o.placeholder = 'fd2f::/64';
		o.depends('filter_addresses', '1');

		o = s.option(form.DynamicList, 'allow_service', _('Only these services'),
			_('When given, only these DNS-SD service types cross. Host names always cross.'));
		o.validate = validateService;
		o.placeholder = '_ssh._tcp';

		o = s.option(form.DynamicList, 'deny_service', _('Never these services'),
			_('These DNS-SD service types never cross.'));
		o.validate = validateService;
		o.placeholder = '_http._tcp';

		s = m.section(form.TypedSection, 'wireguard', _('WireGuard Devices'),
			_('A WireGuard device that is a downstream of a proxy has the allowed IPs of its peers answered for and routed, never probed. These settings add to that.'));
		s.anonymous = true;
		s.addremove = true;
		s.addbtntitle = _('Add WireGuard device');

		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.default = o.enabled;
		o.rmempty = false;

		o = keepDevices(s.option(widgets.NetworkSelect, 'device', _('Device'), _('The WireGuard interface.')));
		o.rmempty = false;

		o = s.option(form.Flag, 'link_local', _('Key-derived link-local address'),
			_('Give the device the link-local address derived from its public key, which Router Advertisements and DHCPv6 over the tunnel need.'));
		o.default = o.enabled;

		o = s.option(form.Value, 'handshake_timeout', _('Handshake timeout'),
			_('Treat a peer with a persistent keepalive as gone once its last handshake is older than this. 0 (off), or from 3m to 24h.'));
		o.placeholder = '0';
		o.validate = function(section_id, value) {
			if (parseDuration(value) === 0)
				return true;

			return durationValidator([ 180000, '3m' ], [ 86400000, '24h' ]).call(this, section_id, value);
		};

		o = s.option(form.Flag, 'ra_advertise', _('Send Router Advertisements'),
			_('Be the router on the tunnel: announce the prefixes of the device\'s own addresses (the /64 of an interface with IPv6 assignment on it) to every peer, so that a router behind the tunnel configures itself from them.'));
		o.default = o.disabled;

		o = s.option(form.DynamicList, 'ra_dns', _('DNS servers'),
			_('Announce these DNS servers to the peers.'));
		o.datatype = 'ip6addr';
		o.validate = validateDNSServer;
		o.placeholder = '2001:db8:abc:123::53';
		o.depends('ra_advertise', '1');

		return m.render();
	}
});
