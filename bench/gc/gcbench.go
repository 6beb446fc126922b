// gcbench (Go) — bench/gc/gcbench.c in Go: the same trees (32-byte nodes:
// two pointers, two integers), built top down and bottom up, the long-lived
// tree and a long-lived make([]float64, ARRAY); the same result line.
//
// usage: gcbench_go [MAX_DEPTH=16] [ROUNDS=8] [ARRAY=500000]
package main

import (
	"fmt"
	"math"
	"os"
)

const (
	gbMinDepth   = 4
	gbCheckEvery = 8
)

type gnode struct {
	left, right *gnode
	depth       int64
	mark        int64
}

var (
	gNodes uint64
	gBad   bool
)

func newGnode(left, right *gnode, depth int) *gnode {
	gNodes++
	return &gnode{left, right, int64(depth), int64(depth)*2 + 1}
}

func populate(n *gnode, depth int) {
	if depth <= 0 {
		return
	}
	n.left = newGnode(nil, nil, depth-1)
	n.right = newGnode(nil, nil, depth-1)
	populate(n.left, depth-1)
	populate(n.right, depth-1)
}

func makeGTree(depth int) *gnode {
	if depth <= 0 {
		return newGnode(nil, nil, 0)
	}
	l := makeGTree(depth - 1)
	r := makeGTree(depth - 1)
	return newGnode(l, r, depth)
}

func checkGTree(n *gnode, depth int) uint64 {
	if n.depth != int64(depth) || n.mark != int64(depth)*2+1 {
		gBad = true
		return 0
	}
	if depth == 0 {
		if n.left == nil && n.right == nil {
			return 1
		}
		gBad = true
		return 0
	}
	if n.left == nil || n.right == nil {
		gBad = true
		return 0
	}
	return 1 + checkGTree(n.left, depth-1) + checkGTree(n.right, depth-1)
}

func treeSize(depth int) int64 { return (int64(1) << uint(depth+1)) - 1 }

func main() {
	maxDepth := int(intArg(1, 16, gbMinDepth, 24))
	rounds := int(intArg(2, 8, 1, 1000))
	arrayLen := int(intArg(3, 500000, 1001, 100000000))
	stretchDepth := maxDepth + 2

	var sum uint64
	sum = mix(sum ^ checkGTree(makeGTree(stretchDepth), stretchDepth))
	gcSample()

	longLived := newGnode(nil, nil, maxDepth)
	populate(longLived, maxDepth)

	array := make([]float64, arrayLen)
	for i := 1; i < arrayLen; i++ {
		array[i] = 1.0 / float64(i)
	}

	for r := 0; r < rounds; r++ {
		for d := gbMinDepth; d <= maxDepth; d += 2 {
			iters := 2 * treeSize(stretchDepth) / treeSize(d)
			var checked uint64
			for i := int64(0); i < iters; i++ {
				t := newGnode(nil, nil, d)
				populate(t, d)
				if i%gbCheckEvery == 0 {
					checked += checkGTree(t, d)
				}
			}
			for i := int64(0); i < iters; i++ {
				t := makeGTree(d)
				if i%gbCheckEvery == 0 {
					checked += checkGTree(t, d)
				}
			}
			sum = mix(sum ^ (uint64(iters) << 40) ^ (uint64(d) << 32) ^ checked)
			gcSample()
		}
	}

	sum = mix(sum ^ checkGTree(longLived, maxDepth))
	s := 0.0
	for i := 0; i < arrayLen; i++ {
		s += array[i]
	}
	if array[1000] != 1.0/1000.0 {
		gBad = true
	}
	sum = mix(sum ^ math.Float64bits(s))
	if gBad {
		fmt.Fprintln(os.Stderr, "gcbench: a tree or the array did not hold what was stored (go)")
		fmt.Println("gcbench CORRUPT")
		os.Exit(1)
	}
	fmt.Printf("gcbench depth=%d rounds=%d array=%d nodes=%d checksum=%016x\n", maxDepth, rounds, arrayLen, gNodes, sum)
	gcReport()
	gcCPUReport()
}
