//go:build ignore

// slice.go — the append benchmark in Go (see cb_common.h):
//
//	slice_go N
//
// appends N int64 one at a time to a nil slice: s = append(s, v).
package main

import "fmt"

func main() {
	n := argU(1, 100000000)
	t0 := nowNs()
	var s []int64
	for i := uint64(0); i < n; i++ {
		s = append(s, int64(i*7+3))
	}
	t1 := nowNs()
	var sum uint64
	for _, v := range s {
		sum = sum*31 + uint64(v)
	}
	phase("append", n, t1-t0)
	fmt.Printf("slice n=%d len=%d cap=%d checksum=%016x\n", n, len(s), cap(s), mix(sum^uint64(len(s))))
}
