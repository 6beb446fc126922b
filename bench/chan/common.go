//go:build ignore

// common.go — what the Go channel benchmark shares with the C and C++ ones
// (the Go twin of chb_common.h, which specifies the workloads). Built with
// this directory's go.mod (standard library only):
//
//	cd bench/chan && go build -o chan_go chan.go common.go
//
// (bench/chan.sh does this and runs it with GOMAXPROCS=2).
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// mix is murmur3's 64-bit finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

var epoch = time.Now()

// nowNs reads the monotonic clock (time.Since uses it).
func nowNs() int64 { return int64(time.Since(epoch)) }

func phase(name string, ops uint64, ns int64) {
	fmt.Printf("phase %s ops=%d ns=%d ns_per_op=%.3f\n", name, ops, ns, float64(ns)/float64(ops))
}

func warmup(n uint64) uint64 {
	if n/10 < 10000 {
		return n / 10
	}
	return 10000
}

// expectedSum is the sum of mix(v) for v in [1, n].
func expectedSum(n uint64) uint64 {
	s := uint64(0)
	for v := uint64(1); v <= n; v++ {
		s += mix(v)
	}
	return s
}

type args struct {
	kind   byte // 'p' pingpong, 'b' buffered, 's' select
	p, c   uint64
	cap, n uint64
}

func num(s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad number '%s'\n", s)
		os.Exit(2)
	}
	return v
}

func parse() args {
	a := args{p: 1, c: 1}
	av := os.Args
	switch {
	case len(av) == 3 && av[1] == "pingpong":
		a.kind = 'p'
		a.n = num(av[2])
	case len(av) == 6 && av[1] == "buffered":
		a.kind = 'b'
		a.p, a.c, a.cap, a.n = num(av[2]), num(av[3]), num(av[4]), num(av[5])
	case len(av) == 5 && av[1] == "select":
		a.kind = 's'
		a.p, a.cap, a.n = num(av[2]), num(av[3]), num(av[4])
	default:
		fmt.Fprintf(os.Stderr, "usage: %s pingpong N | buffered P C CAP N | select K CAP N\n", av[0])
		os.Exit(2)
	}
	if a.n == 0 || a.p == 0 || a.c == 0 || a.p > 64 || a.c > 64 || a.n%a.p != 0 {
		fmt.Fprintln(os.Stderr, "need N > 0, 1 <= P, C, K <= 64, N a multiple of P (K)")
		os.Exit(2)
	}
	if a.kind == 'b' && a.cap == 0 {
		fmt.Fprintln(os.Stderr, "buffered needs CAP > 0")
		os.Exit(2)
	}
	return a
}

// report prints the phase and result lines; returns the exit status.
func report(a args, ns int64, items, sum uint64) int {
	phase("item", a.n, ns)
	if a.kind == 'b' {
		fmt.Printf("buffered p=%d c=%d cap=%d n=%d items=%d checksum=%016x\n", a.p, a.c, a.cap, a.n, items, sum)
	} else {
		fmt.Printf("select k=%d cap=%d n=%d items=%d checksum=%016x\n", a.p, a.cap, a.n, items, sum)
	}
	want := expectedSum(a.n)
	if items != a.n || sum != want {
		fmt.Fprintf(os.Stderr, "WRONG: received %d items, checksum %016x; want %d, %016x\n", items, sum, a.n, want)
		return 1
	}
	return 0
}
