package api

import (
	"net/http"
	"net/http/pprof"
)

// pprofRoutes are Go's profiling endpoints (net/http/pprof) behind the API's chain, for admin
// keys only: the index and named profiles (heap, goroutine, allocs, block, mutex, threadcreate)
// under /debug/pprof/, a CPU profile at /debug/pprof/profile?seconds=N and an execution trace at
// /debug/pprof/trace?seconds=N. A profile runs within the API's handler timeout.
func pprofRoutes() []route {
	h := func(f http.HandlerFunc) func(http.ResponseWriter, *http.Request, Key) error {
		return func(w http.ResponseWriter, r *http.Request, _ Key) error {
			f(w, r)
			return nil
		}
	}
	return []route{
		{pattern: "GET /debug/pprof/", access: adminOnly, h: h(pprof.Index)},
		{pattern: "GET /debug/pprof/cmdline", access: adminOnly, h: h(pprof.Cmdline)},
		{pattern: "GET /debug/pprof/profile", access: adminOnly, h: h(pprof.Profile)},
		{pattern: "GET /debug/pprof/symbol", access: adminOnly, h: h(pprof.Symbol)},
		{pattern: "POST /debug/pprof/symbol", access: adminOnly, h: h(pprof.Symbol)},
		{pattern: "GET /debug/pprof/trace", access: adminOnly, h: h(pprof.Trace)},
	}
}
