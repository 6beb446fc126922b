//go:build ignore

// common.go — what the Go versions of the container benchmarks share (the Go
// twin of cb_common.h). Each program is built from two files, with this
// directory's go.mod (standard library only):
//
//	cd bench/containers && go build -o map_go map.go common.go
//
// (bench/containers.sh does this). Plain Go: the default collector
// (GOGC=100), GOMAXPROCS = the number of CPUs. The key sets reproduce
// cb_common.h byte for byte, so that every language prints the same checksum.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

const (
	seedInt uint64 = 0x9e3779b97f4a7c15 // added to the key index before mixing (int keys)
	seedStr uint64 = 0xd1b54a32d192ed03 // the same for string keys
)

// mix is the murmur3 64-bit finalizer: a bijection, so distinct indexes give
// distinct keys.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// intKey is key number j: hits are the even j (2i), misses the odd ones.
func intKey(j uint64) int64 { return int64(mix(j + seedInt)) }

// strKey appends key number j: 8-24 decimal digits, L-8 of them from the
// mixed index, then j on 8 digits (which makes the keys distinct).
func strKey(buf []byte, j uint64) []byte {
	v := mix(j + seedStr)
	l := 8 + int(v%17)
	var pre [16]byte
	digits(pre[:], (v/17)%10000000000000000)
	buf = append(buf, pre[:l-8]...)
	var suf [8]byte
	digits(suf[:], j)
	return append(buf, suf[:]...)
}

// digits writes x on exactly len(out) decimal digits, zero-padded.
func digits(out []byte, x uint64) {
	for w := len(out); w > 0; {
		w--
		out[w] = byte('0' + x%10)
		x /= 10
	}
}

func nowNs() int64 { return time.Now().UnixNano() }

func argU(i int, def uint64) uint64 {
	if len(os.Args) <= i {
		return def
	}
	v, err := strconv.ParseUint(os.Args[i], 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad argument %q\n", os.Args[i])
		os.Exit(2)
	}
	return v
}

func phase(name string, ops uint64, ns int64) {
	fmt.Printf("phase %s ops=%d ns=%d ns_per_op=%.3f\n", name, ops, ns, float64(ns)/float64(ops))
}
