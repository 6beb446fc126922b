// pauses (Go) — bench/gc/pauses.c in Go: LIVE_MB MiB live as the same graph
// of 64-byte objects, the same replacements and garbage per round, a forced
// runtime.GC() per round; the same result line and checksum. Go's pauses are
// its stop-the-world phases only (marking runs concurrently).
//
// usage: pauses_go [LIVE_MB=100] [CYCLES=20]
package main

import (
	"fmt"
	"os"
	"runtime"
)

const (
	fanout    = 4
	subHeight = 6
	subNodes  = 5461
	k1        = 0x9e3779b97f4a7c15
	k2        = 0x5bd1e9955bd1e995
)

type pnode struct {
	kid   [fanout]*pnode
	cross *pnode
	id    uint64
	check [2]uint64
}

func build(h int, next *uint64, prev **pnode) *pnode {
	n := &pnode{}
	n.id = *next
	*next++
	n.check[0] = n.id * k1
	n.check[1] = n.id ^ k2
	n.cross = *prev
	*prev = n
	if h > 0 {
		for i := range n.kid {
			n.kid[i] = build(h-1, next, prev)
		}
	}
	return n
}

func newSubtree(firstID uint64) *pnode {
	next := firstID
	var prev *pnode
	return build(subHeight, &next, &prev)
}

func checkSubtree(n *pnode, h int, expect *uint64, bad *bool) uint64 {
	if n == nil || n.id != *expect || n.check[0] != n.id*k1 || n.check[1] != n.id^k2 {
		*bad = true
		return 0
	}
	*expect++
	if n.cross != nil && n.cross.id+1 > n.id {
		*bad = true
	}
	s := mix(n.id)
	if h > 0 {
		for _, k := range n.kid {
			s += checkSubtree(k, h-1, expect, bad)
		}
	}
	return s
}


func main() {
	liveMB := intArg(1, 100, 1, 100000)
	cycles := int(intArg(2, 20, 1, 10000))

	nsub := int(liveMB * 1048576 / (subNodes * 64))
	if nsub < 1 {
		nsub = 1
	}
	root := make([]*pnode, nsub)
	first := make([]uint64, nsub)
	nextID := uint64(1)
	for i := range root {
		first[i] = nextID
		root[i] = newSubtree(nextID)
		nextID += subNodes
	}
	gcSample()

	r := newRng(0x7061757365)
	replace := nsub / 20
	if replace == 0 {
		replace = 1
	}
	garbageMB := liveMB / 4
	if liveMB < 16 {
		garbageMB = 4
	}
	garbage := int(garbageMB) * 1048576
	var sum uint64
	for c := 0; c < cycles; c++ {
		for k := 0; k < replace; k++ {
			i := r.rangeIn(0, uint64(nsub-1))
			first[i] = nextID
			root[i] = newSubtree(nextID)
			nextID += subNodes
		}
		for done := 0; done < garbage; done += 256 * 64 {
			var head *pnode
			for j := 0; j < 256; j++ {
				n := &pnode{}
				n.kid[0] = head
				n.id = uint64(j)
				head = n
			}
			var l uint64
			for n := head; n != nil; n = n.kid[0] {
				l += n.id
			}
			sum += l
		}
		runtime.GC()
		gcSample()
	}

	bad := false
	for i := range root {
		expect := first[i]
		sum += checkSubtree(root[i], subHeight, &expect, &bad)
	}
	if bad {
		fmt.Fprintln(os.Stderr, "pauses: a live node did not hold what was stored (go)")
		fmt.Println("pauses CORRUPT")
		os.Exit(1)
	}
	fmt.Printf("pauses live_mb=%d cycles=%d nodes=%d checksum=%016x\n", liveMB, cycles, nsub*subNodes, sum)
	gcReport()
}
