// mtalloc (Go) — bench/gc/mtalloc.c in Go: THREADS goroutines, the same
// items (lists of 16..128-byte nodes, one in four with a []uint64), the same
// rolling window and verification, the same result line and checksum.
//
// A node is one allocation of its size, as in C: a struct type per size
// whose first field is the lnode header, reached through *lnode; the payload
// words after the header are read and written through unsafe.Add.
//
// usage: mtalloc_go [THREADS=2] [ITEMS=300000 per thread] [WINDOW=4096]
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

type lnode struct {
	next *lnode
	tag  uint64
}

type (
	ln32 struct {
		lnode
		p [2]uint64
	}
	ln48 struct {
		lnode
		p [4]uint64
	}
	ln64 struct {
		lnode
		p [6]uint64
	}
	ln80 struct {
		lnode
		p [8]uint64
	}
	ln96 struct {
		lnode
		p [10]uint64
	}
	ln112 struct {
		lnode
		p [12]uint64
	}
	ln128 struct {
		lnode
		p [14]uint64
	}
)

func newLnode(size uint64) *lnode {
	switch size {
	case 16:
		return new(lnode)
	case 32:
		return &new(ln32).lnode
	case 48:
		return &new(ln48).lnode
	case 64:
		return &new(ln64).lnode
	case 80:
		return &new(ln80).lnode
	case 96:
		return &new(ln96).lnode
	case 112:
		return &new(ln112).lnode
	default:
		return &new(ln128).lnode
	}
}

// payload: the words after the header (the node is size bytes long).
func payload(n *lnode, size uint64) []uint64 {
	if size <= 16 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Add(unsafe.Pointer(n), 16)), (size-16)/8)
}

type item struct {
	head   *lnode
	arr    []uint64
	seed   uint64
	nodes  uint32
	arrlen uint32
}

func arrWord(seed uint64, w uint32) uint64 { return seed + uint64(w)*0x9e3779b97f4a7c15 }

func makeItem(r *rng, nodes *uint64) *item {
	it := &item{}
	it.seed = r.next()
	it.nodes = uint32(r.rangeIn(1, 32))
	for k := uint32(0); k < it.nodes; k++ {
		size := 16 * r.rangeIn(1, 8)
		n := newLnode(size)
		n.tag = (mix(it.seed+uint64(k)) &^ 0xff) | (size / 16)
		pay := payload(n, size)
		for w := range pay {
			pay[w] = n.tag + 1 + uint64(w)
		}
		n.next = it.head
		it.head = n
	}
	if r.rangeIn(0, 3) == 0 {
		l := uint32(r.rangeIn(16, 1024))
		a := make([]uint64, l)
		for w := uint32(0); w < l; w++ {
			a[w] = arrWord(it.seed, w)
		}
		it.arr = a
		it.arrlen = l
	}
	*nodes += uint64(it.nodes)
	return it
}

func verifyItem(it *item, bad *bool) uint64 {
	k := it.nodes
	for n := it.head; n != nil; n = n.next {
		if k == 0 {
			*bad = true
			break
		}
		k--
		size := (n.tag & 0xff) * 16
		if (n.tag&^0xff) != (mix(it.seed+uint64(k))&^0xff) || size < 16 || size > 128 {
			*bad = true
			break
		}
		for w, v := range payload(n, size) {
			if v != n.tag+1+uint64(w) {
				*bad = true
			}
		}
	}
	if k != 0 {
		*bad = true
	}
	if it.arrlen > 0 {
		mid, last := it.arrlen/2, it.arrlen-1
		if uint32(len(it.arr)) != it.arrlen || it.arr[0] != arrWord(it.seed, 0) ||
			it.arr[mid] != arrWord(it.seed, mid) || it.arr[last] != arrWord(it.seed, last) {
			*bad = true
		}
	}
	return mix(it.seed ^ (uint64(it.nodes) << 32) ^ uint64(it.arrlen))
}

type worker struct {
	checksum, nodes, verified uint64
	bad                       bool
}

func work(id int, items int64, window int, wk *worker) {
	r := newRng(0x6d74616c6c6f63 + uint64(id)*0x1000193)
	win := make([]*item, window)
	var sum, nodes, verified uint64
	bad := false
	for i := int64(0); i < items; i++ {
		slot := r.rangeIn(0, uint64(window-1))
		if old := win[slot]; old != nil {
			sum += verifyItem(old, &bad)
			verified++
		}
		win[slot] = makeItem(r, &nodes)
	}
	for s := range win {
		if win[s] != nil {
			sum += verifyItem(win[s], &bad)
			verified++
			win[s] = nil
		}
	}
	*wk = worker{sum, nodes, verified, bad}
}

func main() {
	nthreads := int(intArg(1, 2, 1, 256))
	items := intArg(2, 300000, 1, 1000000000)
	window := int(intArg(3, 4096, 1, 100000000))

	workers := make([]worker, nthreads)
	var wg sync.WaitGroup
	var running int32 = int32(nthreads)
	for t := 0; t < nthreads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			work(t, items, window, &workers[t])
			atomic.AddInt32(&running, -1)
		}(t)
	}
	for atomic.LoadInt32(&running) > 0 {
		time.Sleep(100 * time.Millisecond)
		gcSample()
	}
	wg.Wait()
	var sum, nodes, verified uint64
	bad := false
	for _, w := range workers {
		sum += w.checksum
		nodes += w.nodes
		verified += w.verified
		bad = bad || w.bad
	}
	if bad {
		fmt.Fprintln(os.Stderr, "mtalloc: an item did not hold what was stored (go)")
		fmt.Println("mtalloc CORRUPT")
		os.Exit(1)
	}
	fmt.Printf("mtalloc threads=%d items=%d nodes=%d checksum=%016x\n", nthreads, verified, nodes, sum)
	gcReport()
}
