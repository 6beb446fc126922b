//go:build ignore

// chan.go — the channel benchmarks in Go (see chb_common.h):
//
//	chan_go pingpong N | buffered P C CAP N | select K CAP N
//
// chan int64, goroutines, select over K receive cases; GOMAXPROCS is
// whatever the environment says (bench/chan.sh: 2).
package main

import (
	"fmt"
	"os"
	"sync"
)

func pingpong(a args) int {
	ping := make(chan int64)
	pong := make(chan int64)
	go func() {
		for v := range ping {
			pong <- 2*v + 1
		}
	}()
	w := warmup(a.n)
	sum := uint64(0)
	var t0 int64
	for i := uint64(1); i <= w+a.n; i++ {
		if i == w+1 {
			t0 = nowNs()
		}
		ping <- int64(i)
		r := <-pong
		sum += mix(uint64(r))
	}
	t1 := nowNs()
	close(ping)
	phase("roundtrip", a.n, t1-t0)
	fmt.Printf("pingpong n=%d warmup=%d checksum=%016x\n", a.n, w, sum)
	want := uint64(0)
	for i := uint64(1); i <= w+a.n; i++ {
		want += mix(2*i + 1)
	}
	if sum != want {
		return 1
	}
	return 0
}

func buffered(a args) int {
	ch := make(chan int64, a.cap)
	start := make(chan struct{})
	per := a.n / a.p
	var prod, cons sync.WaitGroup
	items := make([]uint64, a.c)
	sums := make([]uint64, a.c)
	for j := uint64(0); j < a.c; j++ {
		cons.Add(1)
		go func(j uint64) {
			defer cons.Done()
			<-start
			n, s := uint64(0), uint64(0)
			for v := range ch {
				n++
				s += mix(uint64(v))
			}
			items[j], sums[j] = n, s
		}(j)
	}
	for p := uint64(0); p < a.p; p++ {
		prod.Add(1)
		go func(p uint64) {
			defer prod.Done()
			<-start
			for i := uint64(0); i < per; i++ {
				ch <- int64(p*per + i + 1)
			}
		}(p)
	}
	t0 := nowNs()
	close(start)
	prod.Wait()
	close(ch)
	cons.Wait()
	t1 := nowNs()
	n, s := uint64(0), uint64(0)
	for j := range items {
		n += items[j]
		s += sums[j]
	}
	return report(a, t1-t0, n, s)
}

func selectk(a args) int {
	if a.p != 4 {
		fmt.Fprintln(os.Stderr, "chan_go: select is written for K = 4 (a Go select has fixed cases)")
		return 2
	}
	chs := make([]chan int64, a.p)
	for k := range chs {
		chs[k] = make(chan int64, a.cap)
	}
	start := make(chan struct{})
	per := a.n / a.p
	for k := uint64(0); k < a.p; k++ {
		go func(k uint64) {
			<-start
			c := chs[k]
			for i := uint64(0); i < per; i++ {
				c <- int64(k*per + i + 1)
			}
			close(c)
		}(k)
	}
	c0, c1, c2, c3 := chs[0], chs[1], chs[2], chs[3]
	var v int64
	var ok bool
	items, sum, live := uint64(0), uint64(0), 4
	t0 := nowNs()
	close(start)
	for live > 0 {
		select {
		case v, ok = <-c0:
			if !ok {
				c0 = nil
			}
		case v, ok = <-c1:
			if !ok {
				c1 = nil
			}
		case v, ok = <-c2:
			if !ok {
				c2 = nil
			}
		case v, ok = <-c3:
			if !ok {
				c3 = nil
			}
		}
		if !ok {
			live--
			continue
		}
		items++
		sum += mix(uint64(v))
	}
	t1 := nowNs()
	return report(a, t1-t0, items, sum)
}

func main() {
	a := parse()
	var rc int
	switch a.kind {
	case 'p':
		rc = pingpong(a)
	case 'b':
		rc = buffered(a)
	default:
		rc = selectk(a)
	}
	os.Exit(rc)
}
