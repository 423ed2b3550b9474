package bench

import "golang.org/x/net/bpf"

// The socket filters that decide, in the kernel, which packets this process
// counts or reads. Every socket is SOCK_DGRAM, so a filter sees the packet
// from the IPv6 header on.

// timedAnswers accepts the advertisements for timed targets, read and timed.
func timedAnswers() []bpf.Instruction {
	return ndFilter(typeNA, targetIs{off: targetGroupOff, size: 2, val: groupTimed})
}

// bulkAnswers accepts the advertisements for bulk targets, only counted.
func bulkAnswers() []bpf.Instruction {
	return ndFilter(typeNA, targetIs{off: targetGroupOff, size: 2, val: groupBulk})
}

// islandSolicits accepts every solicitation, counted on the island link.
func islandSolicits() []bpf.Instruction { return ndFilter(typeNS) }

// timedProbes accepts the probes for timed targets on the island link: when
// a proxy's probe for a cold target arrives splits its latency in two.
func timedProbes() []bpf.Instruction {
	return ndFilter(typeNS, targetIs{off: targetGroupOff, size: 2, val: groupTimed})
}

// sampledProbes accepts the probes for about one flood target in 16.
func sampledProbes() []bpf.Instruction {
	return ndFilter(typeNS,
		targetIs{off: targetGroupOff, size: 2, test: bpf.JumpGreaterOrEqual, val: groupFlood},
		targetIs{off: targetLastOff, size: 1, test: bpf.JumpBitsNotSet, val: sampleMask})
}

// targetIs is a condition on a solicitation's or advertisement's target:
// its size bytes (1, 2 or 4) at offset off pass test against val (the zero
// test is equality).
type targetIs struct {
	off, size int
	test      bpf.JumpTest
	val       uint32
}

// ndFilter accepts ICMPv6 messages of icmpType whose target meets every
// condition, keeping their first 128 bytes.
func ndFilter(icmpType uint8, conds ...targetIs) []bpf.Instruction {
	// Each test jumps, when false, to the reject at the very end.
	n := len(conds)
	insns := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offNextHeader, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMPv6, SkipFalse: uint8(2*n + 3)},
		bpf.LoadAbsolute{Off: offICMPType, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(icmpType), SkipFalse: uint8(2*n + 1)},
	}
	for i, c := range conds {
		insns = append(insns,
			bpf.LoadAbsolute{Off: uint32(offTarget + c.off), Size: c.size},
			bpf.JumpIf{Cond: c.test, Val: c.val, SkipFalse: uint8(2*(n-i-1) + 1)})
	}
	return append(insns, bpf.RetConstant{Val: 128}, bpf.RetConstant{Val: 0})
}
