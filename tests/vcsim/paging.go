// Server-side paging of RetrievePropertiesEx, which the 0.24.2 simulator
// lacks (it ignores maxObjects and has no ContinueRetrievePropertiesEx).
//
// vCenter may return fewer objects than asked plus a token, and clients must
// follow the token with ContinueRetrievePropertiesEx. With -page-size N the
// harness caps every answer at N objects (or maxObjects, if smaller) so
// clients' paging code is exercised against a real peer.
package main

import (
	"fmt"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// pageCap is the -page-size flag (0 = no server-side cap).
var pageCap int32

// pagingCollector wraps the PropertyCollector. The simulator creates one
// instance per session with reflect.New of this type (see
// simulator.Session.Get), so the zero value must work: the embedded
// collector is a value and the page table is created lazily.
type pagingCollector struct {
	simulator.PropertyCollector

	// pagesMu guards pages; the embedded collector opts out of the
	// simulator's per-object locking.
	pagesMu sync.Mutex
	pages   map[string]*pending
	seq     int
}

// pending is what is left of one paged retrieval.
type pending struct {
	objects []types.ObjectContent
	size    int
}

func installPagingCollector(size int32) {
	pageCap = size
	si := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	pc := &pagingCollector{}
	pc.Self = si.Content.PropertyCollector
	simulator.Map.Put(pc)
}

func (pc *pagingCollector) RetrievePropertiesEx(ctx *simulator.Context, r *types.RetrievePropertiesEx) soap.HasFault {
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, r)
	body, ok := res.(*methods.RetrievePropertiesExBody)
	if !ok || body.Res == nil || body.Res.Returnval == nil {
		return res
	}
	size := pageCap
	if r.Options.MaxObjects > 0 && (size == 0 || r.Options.MaxObjects < size) {
		size = r.Options.MaxObjects
	}
	all := body.Res.Returnval.Objects
	if size <= 0 || len(all) <= int(size) {
		return res
	}
	pc.pagesMu.Lock()
	defer pc.pagesMu.Unlock()
	if pc.pages == nil {
		pc.pages = make(map[string]*pending)
	}
	pc.seq++
	token := fmt.Sprintf("vcsim-page-%d", pc.seq)
	pc.pages[token] = &pending{objects: all[size:], size: int(size)}
	body.Res.Returnval.Objects = all[:size]
	body.Res.Returnval.Token = token
	return body
}

func (pc *pagingCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, r *types.ContinueRetrievePropertiesEx) soap.HasFault {
	body := new(methods.ContinueRetrievePropertiesExBody)
	pc.pagesMu.Lock()
	defer pc.pagesMu.Unlock()
	p, ok := pc.pages[r.Token]
	if !ok {
		body.Fault_ = simulator.Fault("unknown token", &types.InvalidArgument{InvalidProperty: "token"})
		return body
	}
	delete(pc.pages, r.Token)
	result := types.RetrieveResult{Objects: p.objects}
	if len(p.objects) > p.size {
		result.Objects = p.objects[:p.size]
		pc.seq++
		token := fmt.Sprintf("vcsim-page-%d", pc.seq)
		pc.pages[token] = &pending{objects: p.objects[p.size:], size: p.size}
		result.Token = token
	}
	body.Res = &types.ContinueRetrievePropertiesExResponse{Returnval: result}
	return body
}
