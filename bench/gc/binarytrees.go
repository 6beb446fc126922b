// binarytrees (Go) — bench/gc/binarytrees.c in Go with plain pointers: the
// same trees, built bottom up, the same result line and checksum.
//
// usage: binarytrees_go [MAX_DEPTH=21] [-v]
package main

import (
	"fmt"
	"os"
)

const minDepth = 4

type node struct {
	left, right *node
}

var nodes uint64

func makeTree(depth int) *node {
	nodes++
	if depth <= 0 {
		return &node{}
	}
	l := makeTree(depth - 1)
	r := makeTree(depth - 1)
	return &node{l, r}
}

func (n *node) check() int64 {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

func main() {
	verbose := false
	if len(os.Args) > 1 && os.Args[len(os.Args)-1] == "-v" {
		verbose = true
		os.Args = os.Args[:len(os.Args)-1]
	}
	maxDepth := int(intArg(1, 21, 0, 30))
	if maxDepth < minDepth+2 {
		maxDepth = minDepth + 2
	}

	var sum uint64
	stretch := maxDepth + 1
	c := makeTree(stretch).check()
	sum = mix(sum ^ uint64(c))
	if verbose {
		fmt.Fprintf(os.Stderr, "stretch tree of depth %d\t check: %d\n", stretch, c)
	}
	gcSample()

	longLived := makeTree(maxDepth)

	for d := minDepth; d <= maxDepth; d += 2 {
		iterations := int64(1) << uint(maxDepth-d+minDepth)
		var check int64
		for i := int64(0); i < iterations; i++ {
			check += makeTree(d).check()
		}
		sum = mix(sum ^ (uint64(iterations) << 32) ^ uint64(check))
		if verbose {
			fmt.Fprintf(os.Stderr, "%d\t trees of depth %d\t check: %d\n", iterations, d, check)
		}
		gcSample()
	}

	c = longLived.check()
	sum = mix(sum ^ uint64(c))
	if verbose {
		fmt.Fprintf(os.Stderr, "long lived tree of depth %d\t check: %d\n", maxDepth, c)
	}
	fmt.Printf("binarytrees depth=%d nodes=%d checksum=%016x\n", maxDepth, nodes, sum)
	gcReport()
	gcCPUReport()
}
