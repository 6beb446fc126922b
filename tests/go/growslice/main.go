// Command growslice prints tests/unit/growslice_table.h: the capacities
// Go's own append gives, measured with real appends, so that gomalloc's
// gm_growslice_cap is checked against the runtime rather than against a
// second reading of runtime/slice.go.
//
//	cd tests/go/growslice && go run . > ../../unit/growslice_table.h
//
// Every slice is stored in a global before its capacity is read: a
// slice that does not escape may get a stack buffer (Go 1.25+), whose
// capacity is not growslice's.
package main

import (
	"bufio"
	"os"
	"runtime"
)

// Element types: [N]byte has no pointers (a noscan allocation); pN
// holds a pointer, so growslice takes roundupsize's !noscan branch.
type (
	n1    [1]byte
	n2    [2]byte
	n3    [3]byte
	n4    [4]byte
	n5    [5]byte
	n8    [8]byte
	n12   [12]byte
	n16   [16]byte
	n24   [24]byte
	n32   [32]byte
	n40   [40]byte
	n48   [48]byte
	n64   [64]byte
	n72   [72]byte
	n100  [100]byte
	n128  [128]byte
	n256  [256]byte
	n1000 [1000]byte
	n4096 [4096]byte

	p8  struct{ p *byte }
	p16 struct {
		p *byte
		_ [8]byte
	}
	p24 struct {
		p *byte
		_ [16]byte
	}
	p32 struct {
		p *byte
		_ [24]byte
	}
	p40 struct {
		p *byte
		_ [32]byte
	}
	p48 struct {
		p *byte
		_ [40]byte
	}
	p64 struct {
		p *byte
		_ [56]byte
	}
	p72 struct {
		p *byte
		_ [64]byte
	}
	p128 struct {
		p *byte
		_ [120]byte
	}
	p256 struct {
		p *byte
		_ [248]byte
	}
	p1000 struct {
		p *byte
		_ [992]byte
	}
	p4096 struct {
		p *byte
		_ [4088]byte
	}
)

// maxRow: the one-element table covers every old capacity 0..maxRow.
const maxRow = 600

// Sparse old capacities for one-element appends, and the (old capacity,
// count) pairs for appends of several elements at once.
var (
	bigCaps  = []int{700, 768, 800, 1000, 1023, 1024, 1025, 1500, 2000, 2047, 4096, 5000, 10000, 12345, 50000, 65536, 100000, 250000, 500000, 1000000}
	manyCaps = []int{0, 1, 3, 4, 7, 8, 100, 256, 257, 600, 10000}
	counts   = []int{2, 3, 5, 8, 9, 17, 33, 100, 513, 1000}
)

// Appends are only measured while the old array stays under this size,
// so the whole run needs little memory.
const maxBytes = 32 << 20

type row struct {
	size int
	ptr  bool
	one  []int    // one[c]: capacity after appending 1 element at len == cap == c
	many [][3]int // {old capacity, count, new capacity}
}

var sink any // every measured slice escapes through it

// grow returns cap(append(s, k elements)) for len(s) == cap(s) == c.
func grow[T any](c, k int) int {
	s := make([]T, c)
	sink = s
	var extra []T
	if k == 1 {
		var v T
		s = append(s, v)
	} else {
		extra = make([]T, k)
		sink = extra
		s = append(s, extra...)
	}
	sink = s
	return cap(s)
}

func measure[T any](ptr bool) row {
	var zero T
	size := int(sizeOf(zero))
	r := row{size: size, ptr: ptr}
	for c := 0; c <= maxRow; c++ {
		r.one = append(r.one, grow[T](c, 1))
	}
	for _, c := range bigCaps {
		if c*size <= maxBytes {
			r.many = append(r.many, [3]int{c, 1, grow[T](c, 1)})
		}
	}
	for _, c := range manyCaps {
		for _, k := range counts {
			if (c+k)*size <= maxBytes {
				r.many = append(r.many, [3]int{c, k, grow[T](c, k)})
			}
		}
	}
	runtime.GC()
	return r
}

func main() {
	rows := []row{
		measure[n1](false), measure[n2](false), measure[n3](false),
		measure[n4](false), measure[n5](false), measure[n8](false),
		measure[n12](false), measure[n16](false), measure[n24](false),
		measure[n32](false), measure[n40](false), measure[n48](false),
		measure[n64](false), measure[n72](false), measure[n100](false),
		measure[n128](false), measure[n256](false), measure[n1000](false),
		measure[n4096](false),
		measure[p8](true), measure[p16](true), measure[p24](true),
		measure[p32](true), measure[p40](true), measure[p48](true),
		measure[p64](true), measure[p72](true), measure[p128](true),
		measure[p256](true), measure[p1000](true), measure[p4096](true),
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	emit(w, rows)
}
