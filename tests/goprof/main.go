// SPDX-License-Identifier: BSD-2-Clause
// goprof writes Go runtime profiles for tests/test_store_pprof.py: the profiles
// net/http/pprof serves, written with runtime/pprof (the same code) into DIR:
// cpu.pprof, heap.pprof, allocs.pprof, goroutine.pprof, block.pprof, mutex.pprof and
// threadcreate.pprof. The work is known: spin burns CPU, hold contends a mutex, and
// idle goroutines wait on a channel.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var sink [][]byte

//go:noinline
func spin(d time.Duration) uint64 {
	var x uint64
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

//go:noinline
func allocate(n int) {
	for i := 0; i < n; i++ {
		sink = append(sink, make([]byte, 4096))
	}
}

//go:noinline
func hold(mu *sync.Mutex, d time.Duration) {
	mu.Lock()
	time.Sleep(d)
	mu.Unlock()
}

func write(dir, name string, f func(*os.File) error) {
	out, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err == nil {
		err = f(out)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goprof:", err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goprof DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)
	runtime.MemProfileRate = 512

	stop := make(chan struct{})
	for i := 0; i < 8; i++ {
		go func() { <-stop }()
	}
	write(dir, "cpu", func(f *os.File) error {
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		spin(600 * time.Millisecond)
		pprof.StopCPUProfile()
		return nil
	})
	allocate(2000)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); hold(&mu, 20*time.Millisecond) }()
	}
	wg.Wait()
	runtime.GC()
	for _, name := range []string{"heap", "allocs", "goroutine", "block", "mutex", "threadcreate"} {
		p := pprof.Lookup(name)
		write(dir, name, func(f *os.File) error { return p.WriteTo(f, 0) })
	}
	close(stop)
}
