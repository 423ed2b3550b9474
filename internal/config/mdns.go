package config

// mdnsOptions are the options of an "mdns" section, in docs/config.md order.
var mdnsOptions = []string{"enabled", "interface"}

// Reflector is one "mdns" section: an mDNS reflector between the listed
// interfaces.
type Reflector struct {
	// Name is the UCI section name, or "@mdns[N]".
	Name string
	// Interfaces are the links between which answers are reflected.
	Interfaces []string
}

// mdns reads an mdns section; on reports whether it is enabled.
func (s *section) mdns() (r Reflector, on bool) {
	s.checkKnown(mdnsOptions)
	r = Reflector{Name: s.name}
	on = s.boolean("enabled", true)
	for _, v := range s.list("interface") {
		if err := checkIfname(v); err != nil {
			s.errorf("interface", "%v", err)
			continue
		}
		r.Interfaces = append(r.Interfaces, v)
	}
	if len(r.Interfaces) < 2 {
		s.errorf("interface", "needs at least two interfaces to reflect between")
	}
	return r, on
}
