// gc_common.go — what the Go versions of the garbage-collector benchmarks
// share (the Go twin of gc_common.h). Each program is built from two files:
//
//	go build -o build/bench/gc/binarytrees_go bench/gc/binarytrees.go bench/gc/gc_common.go
//
// (bench/gc.sh does this). Plain Go: the default collector (GOGC=100),
// GOMAXPROCS = the number of CPUs.
//
// The helpers reproduce bench/bench_alloc.h bit for bit — splitmix64
// seeding, xoshiro256**, Lemire's range reduction, the murmur3 finalizer —
// so that a Go run prints the checksum of the C runs.
//
// Pauses come from runtime.ReadMemStats: NumGC, the PauseNs ring of the last
// 256 cycles and PauseTotalNs. gcSample takes the ring's new entries (a
// program calls it between phases); cycles that left the ring before a
// sample are not seen, and the gc: line's pauses= count says so.
//
// GC CPU time (gcCPUReport, the gccpu: line of the C programs) comes from
// runtime/metrics: /cpu/classes/gc/total:cpu-seconds (assists, dedicated,
// fractional and idle mark workers, and the pauses) over
// /gc/cycles/total:gc-cycles.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
)

func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

type rng struct{ s [4]uint64 }

func splitmix64(x *uint64) uint64 {
	*x += 0x9e3779b97f4a7c15
	z := *x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func newRng(seed uint64) *rng {
	r := &rng{}
	x := seed
	for i := range r.s {
		r.s[i] = splitmix64(&x)
	}
	return r
}

func rotl(x uint64, k uint) uint64 { return (x << k) | (x >> (64 - k)) }

func (r *rng) next() uint64 {
	s := &r.s
	result := rotl(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = rotl(s[3], 45)
	return result
}

// rangeIn: an integer in [lo, hi], as bench_rng_range.
func (r *rng) rangeIn(lo, hi uint64) uint64 {
	span := hi - lo + 1
	x := uint64(uint32(r.next() >> 32))
	return lo + ((x * span) >> 32)
}

// intArg: positional argument i (1-based), or def when missing or "-".
func intArg(i int, def, min, max int64) int64 {
	if i >= len(os.Args) || os.Args[i] == "-" {
		return def
	}
	s := os.Args[i]
	mul := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mul, s = 1000, s[:len(s)-1]
	case 'm', 'M':
		mul, s = 1000000, s[:len(s)-1]
	case 'g', 'G':
		mul, s = 1000000000, s[:len(s)-1]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	v *= mul
	if err != nil || v < min || v > max {
		fmt.Fprintf(os.Stderr, "bench: argument %d (%s) must be an integer in [%d, %d]\n", i, os.Args[i], min, max)
		os.Exit(2)
	}
	return v
}

var (
	pauses   []uint64
	seenGC   uint32
	maxPause uint64
)

// gcSample takes the pauses of the cycles completed since the last sample.
func gcSample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	n := m.NumGC
	first := seenGC + 1
	if n >= 256 && first < n-255 {
		first = n - 255
	}
	for c := first; c <= n && n > 0; c++ {
		p := m.PauseNs[(c-1)%256]
		pauses = append(pauses, p)
		if p > maxPause {
			maxPause = p
		}
	}
	if n > seenGC {
		seenGC = n
	}
}

// gcReport prints the gc: line (same format as the C programs).
func gcReport() {
	gcSample()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	var p99 uint64
	if len(pauses) > 0 {
		v := append([]uint64(nil), pauses...)
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		rank := (len(v)*99 + 99) / 100
		p99 = v[rank-1]
	}
	fmt.Printf("gc: cycles=%d pause_max_ms=%.3f pause_p99_ms=%.3f pause_total_ms=%.3f pauses=%d\n",
		m.NumGC, float64(maxPause)/1e6, float64(p99)/1e6, float64(m.PauseTotalNs)/1e6, len(pauses))
}

// gcCPUReport prints the gccpu: line (same format as the C programs).
func gcCPUReport() {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 || s[1].Value.Kind() != metrics.KindUint64 {
		fmt.Println("gccpu: total_ms=- per_cycle_ms=- source=none")
		return
	}
	ms := s[0].Value.Float64() * 1e3
	cycles := s[1].Value.Uint64()
	perCycle := 0.0
	if cycles > 0 {
		perCycle = ms / float64(cycles)
	}
	fmt.Printf("gccpu: total_ms=%.1f per_cycle_ms=%.3f source=metrics\n", ms, perCycle)
}
