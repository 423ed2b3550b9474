package proxy

// Counters are an engine's running totals since it started.
type Counters struct {
	// Received counts Neighbor Solicitations that passed validation.
	Received uint64 `json:"received"`
	// Answered counts Neighbor Advertisements sent upstream.
	Answered uint64 `json:"answered"`
	// ProbesSent counts Neighbor Solicitations sent downstream.
	ProbesSent uint64 `json:"probes_sent"`
	// Learned counts downstream hosts the RA relay saw that were probed.
	Learned uint64 `json:"learned,omitempty"`
	// MLDReports counts MLD reports read on the downstream links (mld.go).
	MLDReports uint64 `json:"mld_reports"`
	// Verified counts probe answers that verified a target.
	Verified uint64 `json:"verified"`
	// Expired counts targets that stopped answering and were dropped.
	Expired uint64 `json:"expired"`
	// Evicted counts absent targets forgotten early to make room.
	Evicted uint64 `json:"evicted"`
	// Dropped counts invalid packets by reason.
	Dropped map[string]uint64 `json:"dropped"`
	// Ignored counts valid solicitations not answered, by reason.
	Ignored map[string]uint64 `json:"ignored"`
}

func newCounters() Counters {
	return Counters{Dropped: map[string]uint64{}, Ignored: map[string]uint64{}}
}

func (c Counters) clone() Counters {
	out := c
	out.Dropped = make(map[string]uint64, len(c.Dropped))
	for k, v := range c.Dropped {
		out.Dropped[k] = v
	}
	out.Ignored = make(map[string]uint64, len(c.Ignored))
	for k, v := range c.Ignored {
		out.Ignored[k] = v
	}
	return out
}
