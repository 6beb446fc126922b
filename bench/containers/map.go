//go:build ignore

// map.go — the map benchmark in Go (see cb_common.h for the workload):
//
//	map_go int|str N OPS
//
// map[int64]int64 or map[string]int64, made without a size hint.
package main

import (
	"fmt"
	"os"
)

type acc struct{ ins, hit, miss, iter, del uint64 }

func (a *acc) sum() uint64 {
	c := uint64(0)
	for _, x := range []uint64{a.ins, a.hit, a.miss, a.iter, a.del} {
		c = mix(c ^ x)
	}
	return c
}

func main() {
	if len(os.Args) < 3 || (os.Args[1] != "int" && os.Args[1] != "str") {
		fmt.Fprintln(os.Stderr, "usage: map_go int|str N [OPS]")
		os.Exit(2)
	}
	n := argU(2, 1000)
	ops := argU(3, 10000000)
	rounds := ops / n
	if rounds == 0 {
		rounds = 1
	}
	var a acc
	var t [5]int64
	if os.Args[1] == "int" {
		hits := make([]int64, n)
		miss := make([]int64, n)
		for i := uint64(0); i < n; i++ {
			hits[i] = intKey(2 * i)
			miss[i] = intKey(2*i + 1)
		}
		for r := uint64(0); r < rounds; r++ {
			t0 := nowNs()
			m := make(map[int64]int64)
			for i, k := range hits {
				m[k] = int64(i)
			}
			t1 := nowNs()
			a.ins += uint64(len(m))
			var s uint64
			for _, k := range hits {
				s += uint64(m[k])
			}
			t2 := nowNs()
			a.hit += s
			var f uint64
			for _, k := range miss {
				if _, ok := m[k]; ok {
					f++
				}
			}
			t3 := nowNs()
			a.miss += f
			var it uint64
			for k, v := range m {
				it += uint64(k)*31 + uint64(v)
			}
			t4 := nowNs()
			a.iter += it
			before := len(m)
			for _, k := range hits {
				delete(m, k)
			}
			t5 := nowNs()
			a.del += uint64(before-len(m)) + uint64(len(m))<<32
			t[0] += t1 - t0
			t[1] += t2 - t1
			t[2] += t3 - t2
			t[3] += t4 - t3
			t[4] += t5 - t4
		}
	} else {
		var buf []byte
		var off []int
		for j := uint64(0); j < 2*n; j++ {
			buf = strKey(buf, j)
			off = append(off, len(buf))
		}
		all := string(buf) // one backing array, as the C and C++ programs
		buf = nil
		key := func(j int) string {
			lo := 0
			if j > 0 {
				lo = off[j-1]
			}
			return all[lo:off[j]]
		}
		hits := make([]string, n)
		miss := make([]string, n)
		for i := 0; i < int(n); i++ {
			hits[i] = key(2 * i)
			miss[i] = key(2*i + 1)
		}
		off = nil
		for r := uint64(0); r < rounds; r++ {
			t0 := nowNs()
			m := make(map[string]int64)
			for i, k := range hits {
				m[k] = int64(i)
			}
			t1 := nowNs()
			a.ins += uint64(len(m))
			var s uint64
			for _, k := range hits {
				s += uint64(m[k])
			}
			t2 := nowNs()
			a.hit += s
			var f uint64
			for _, k := range miss {
				if _, ok := m[k]; ok {
					f++
				}
			}
			t3 := nowNs()
			a.miss += f
			var it uint64
			for k, v := range m {
				it += uint64(len(k))*31 + uint64(k[len(k)-1]) + uint64(v)
			}
			t4 := nowNs()
			a.iter += it
			before := len(m)
			for _, k := range hits {
				delete(m, k)
			}
			t5 := nowNs()
			a.del += uint64(before-len(m)) + uint64(len(m))<<32
			t[0] += t1 - t0
			t[1] += t2 - t1
			t[2] += t3 - t2
			t[3] += t4 - t3
			t[4] += t5 - t4
		}
	}
	tot := n * rounds
	phase("insert", tot, t[0])
	phase("lookup_hit", tot, t[1])
	phase("lookup_miss", tot, t[2])
	phase("iterate", tot, t[3])
	phase("delete", tot, t[4])
	fmt.Printf("map key=%s n=%d rounds=%d checksum=%016x\n", os.Args[1], n, rounds, a.sum())
}
