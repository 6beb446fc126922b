// latency (Go) — bench/gc/latency.c in Go: LIVE_MB MiB live as the same
// graph of 64-byte objects (cross pointer = parent), the same ITERS
// iterations of one goroutine that walks a random path, checks it, replaces
// a height-1 node and its four leaves with five new nodes, and reads the
// monotonic clock once (runtime.nanotime) to count the gap since the
// previous iteration in the same log-linear histogram; the same result line
// and checksum. GOMAXPROCS is 2 unless the environment sets it: one P for
// the mutator, one for the collector's background and idle mark workers
// (Go charges mark assists to the allocating goroutine).
//
// Pauses as in gc_common.go (MemStats' PauseNs ring, sampled every 65,536
// iterations; the gap that contains the sample is not counted: ReadMemStats
// stops the world). GC CPU time from runtime/metrics (gc_common.go's
// gcCPUReport).
//
// usage: latency_go [LIVE_MB=100] [ITERS=10M]
package main

import (
	"fmt"
	"math/bits"
	"os"
	"runtime"
	_ "unsafe" // go:linkname
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

const (
	latFanout    = 4
	latSubHeight = 6
	latSubNodes  = 5461
	latK1        = 0x9e3779b97f4a7c15
	latK2        = 0x5bd1e9955bd1e995
	sampleEvery  = 65536
	hsubBits     = 7
	hbuckets     = (64 - hsubBits + 1) * 64
)

type lnode struct {
	kid   [latFanout]*lnode
	cross *lnode // the parent; nil for a subtree's root
	id    uint64
	check [2]uint64
}

var hist [hbuckets]uint64

func histIndex(v uint64) int {
	if v < 1<<hsubBits {
		return int(v)
	}
	e := uint(63 - bits.LeadingZeros64(v))
	shift := e - (hsubBits - 1)
	return int(shift)*64 + int(v>>shift)
}

func histUpper(i int) uint64 {
	if i < 1<<hsubBits {
		return uint64(i)
	}
	shift := uint(i/64 - 1)
	m := uint64(i%64) + 64
	return ((m + 1) << shift) - 1
}

func histQuantile(n uint64, q float64, max uint64) uint64 {
	if n == 0 {
		return 0
	}
	rank := uint64(float64(n) * q)
	if float64(rank) < float64(n)*q {
		rank++
	}
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range hist {
		seen += hist[i]
		if seen >= rank {
			if u := histUpper(i); u < max {
				return u
			}
			return max
		}
	}
	return max
}

func newNode(id uint64, parent *lnode) *lnode {
	n := &lnode{}
	n.cross = parent
	n.id = id
	n.check[0] = id * latK1
	n.check[1] = id ^ latK2
	return n
}

func buildL(h int, next *uint64, parent *lnode) *lnode {
	n := newNode(*next, parent)
	*next++
	if h > 0 {
		for i := range n.kid {
			n.kid[i] = buildL(h-1, next, n)
		}
	}
	return n
}

func nodeOK(n, parent *lnode) bool {
	return n != nil && n.check[0] == n.id*latK1 && n.check[1] == n.id^latK2 && n.cross == parent
}

func checkL(n, parent *lnode, h int, bad *bool) uint64 {
	if !nodeOK(n, parent) {
		*bad = true
		return 0
	}
	s := mix(n.id)
	for i, k := range n.kid {
		if h == 0 {
			if k != nil {
				*bad = true
			}
			continue
		}
		if h == 1 && (k == nil || k.id != n.id+1+uint64(i)) {
			*bad = true
			continue
		}
		s += checkL(k, n, h-1, bad)
	}
	return s
}

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2)
	}
	liveMB := intArg(1, 100, 1, 100000)
	iters := uint64(intArg(2, 10000000, 1, 1000000000000))
	if len(os.Args) > 3 && os.Args[3] != "-" {
		fmt.Fprintln(os.Stderr, "latency: MODE incremental is for the Boehm build only")
		os.Exit(2)
	}

	nsub := int(liveMB * 1048576 / (latSubNodes * 64))
	if nsub < 1 {
		nsub = 1
	}
	root := make([]*lnode, nsub)
	nextID := uint64(1)
	for i := range root {
		root[i] = buildL(latSubHeight, &nextID, nil)
	}
	gcSample()

	r := newRng(0x6c6174656e6379)
	var sum, gapMax, counted uint64
	bad := false
	last := nanotime()
	for it := uint64(0); it < iters; it++ {
		var g *lnode
		p := root[r.rangeIn(0, uint64(nsub-1))]
		path := r.next()
		slot := 0
		if !nodeOK(p, nil) {
			bad = true
		}
		for h := latSubHeight; h > 1; h-- {
			slot = int(path & 3)
			path >>= 2
			c := p.kid[slot]
			if !nodeOK(c, p) {
				bad = true
				break
			}
			g = p
			p = c
		}
		if bad {
			break
		}
		pid := p.id
		for i, l := range p.kid {
			if !nodeOK(l, p) || l.id != pid+1+uint64(i) {
				bad = true
			}
		}
		sum += mix(pid)
		np := newNode(nextID, g)
		for i := range np.kid {
			np.kid[i] = newNode(nextID+1+uint64(i), np)
		}
		nextID += latFanout + 1
		g.kid[slot] = np

		now := nanotime()
		gap := uint64(now - last)
		last = now
		hist[histIndex(gap)]++
		counted++
		if gap > gapMax {
			gapMax = gap
		}
		if (it+1)%sampleEvery == 0 {
			gcSample()
			last = nanotime()
		}
	}

	for i := 0; i < nsub && !bad; i++ {
		sum += checkL(root[i], nil, latSubHeight, &bad)
	}
	if bad {
		fmt.Fprintln(os.Stderr, "latency: a live node did not hold what was stored (go)")
		fmt.Println("latency CORRUPT")
		os.Exit(1)
	}
	fmt.Printf("latency live_mb=%d iters=%d nodes=%d checksum=%016x\n", liveMB, iters, nsub*latSubNodes, sum)
	fmt.Printf("gaps: n=%d max_us=%.1f p999_us=%.1f p99_us=%.1f p50_us=%.3f\n", counted,
		float64(gapMax)/1e3, float64(histQuantile(counted, 0.999, gapMax))/1e3,
		float64(histQuantile(counted, 0.99, gapMax))/1e3, float64(histQuantile(counted, 0.5, gapMax))/1e3)
	gcReport()
	gcCPUReport()
}
