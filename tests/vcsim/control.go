// Control HTTP API used by vcgate's tests (documented in main.go).
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func registerControl(mux *http.ServeMux, hook *maintenanceEvents, defaultUser string) {
	post := func(f func(*http.Request) (interface{}, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
				return
			}
			v, err := f(r)
			answer(w, v, err)
		}
	}
	user := func(r *http.Request) string {
		if u := r.URL.Query().Get("user"); u != "" {
			return u
		}
		return defaultUser
	}

	mux.HandleFunc("/vcsim/events/vm-deployed", post(func(r *http.Request) (interface{}, error) {
		vm, err := lookupVM(r.URL.Query().Get("vm"))
		if err != nil {
			return nil, err
		}
		tmpl, err := lookupVM(r.URL.Query().Get("template"))
		if err != nil {
			return nil, err
		}
		event := &types.VmDeployedEvent{
			VmEvent:     types.VmEvent{Event: vmEventBase(vm)},
			SrcTemplate: vmArgument(tmpl),
		}
		return map[string]int32{"key": postEvent(user(r), event)}, nil
	}))

	mux.HandleFunc("/vcsim/events/vm-registered", post(func(r *http.Request) (interface{}, error) {
		vm, err := lookupVM(r.URL.Query().Get("vm"))
		if err != nil {
			return nil, err
		}
		event := &types.VmRegisteredEvent{VmEvent: types.VmEvent{Event: vmEventBase(vm)}}
		return map[string]int32{"key": postEvent(user(r), event)}, nil
	}))

	mux.HandleFunc("/vcsim/events/post", post(func(r *http.Request) (interface{}, error) {
		return postGenericEvent(r, user(r))
	}))

	mux.HandleFunc("/vcsim/maintenance/exit-events", post(func(r *http.Request) (interface{}, error) {
		switch r.URL.Query().Get("suppress") {
		case "true":
			hook.suppressExit.Store(true)
		case "false":
			hook.suppressExit.Store(false)
		default:
			return nil, fmt.Errorf("suppress must be true or false")
		}
		return map[string]bool{"suppress": hook.suppressExit.Load()}, nil
	}))

	registerDenyControl(mux)

	mux.HandleFunc("/vcsim/sessions/expire", post(func(*http.Request) (interface{}, error) {
		return map[string]int{"expired": expireSessions()}, nil
	}))

	mux.HandleFunc("/vcsim/collectors", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "GET only"})
			return
		}
		writeJSON(w, http.StatusOK, map[string][]string{"collectors": openCollectors()})
	})
}

func answer(w http.ResponseWriter, v interface{}, err error) {
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func lookupVM(moid string) (*simulator.VirtualMachine, error) {
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return nil, fmt.Errorf("no VirtualMachine %q", moid)
	}
	return vm, nil
}

func vmArgument(vm *simulator.VirtualMachine) types.VmEventArgument {
	return types.VmEventArgument{
		EntityEventArgument: types.EntityEventArgument{Name: vm.Name},
		Vm:                  vm.Self,
	}
}

// vmEventBase fills vm, host, computeResource and datacenter as vCenter does.
func vmEventBase(vm *simulator.VirtualMachine) types.Event {
	arg := vmArgument(vm)
	e := types.Event{Vm: &arg}
	if vm.Runtime.Host != nil {
		if host, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
			base := hostEventBase(host)
			e.Host, e.ComputeResource, e.Datacenter = base.Host, base.ComputeResource, base.Datacenter
		}
	}
	if e.Datacenter == nil {
		if dc := datacenterOf(vm.Self); dc != nil {
			e.Datacenter = &types.DatacenterEventArgument{
				EntityEventArgument: types.EntityEventArgument{Name: dc.Entity().Name},
				Datacenter:          dc.Reference(),
			}
		}
	}
	return e
}

// expireSessions terminates every SOAP session. The session table is
// unexported, but a session's view of the SessionManager lists all sessions
// (sessionList); each is then removed through TerminateSession.
func expireSessions() int {
	sm := simulator.Map.SessionManager()
	// A synthetic caller: TerminateSession refuses the caller's own session,
	// and this one owns none.
	caller := &simulator.Session{
		UserSession: types.UserSession{Key: "vcsim-control"},
		Registry:    simulator.NewRegistry(),
	}
	view := caller.Get(sm.Self).(*simulator.SessionManager)
	ctx := &simulator.Context{Session: caller}
	n := 0
	for _, s := range view.SessionList {
		req := &types.TerminateSession{This: sm.Self, SessionId: []string{s.Key}}
		if sm.TerminateSession(ctx, req).Fault() == nil {
			n++
		}
	}
	return n
}

// openCollectors lists the EventManager's open EventHistoryCollectors (its
// table is unexported in 0.24.2: read-only reflection under its lock).
func openCollectors() []string {
	em := simulator.Map.EventManager()
	out := []string{}
	simulator.Map.WithLock(em, func() {
		for _, k := range reflect.ValueOf(em).Elem().FieldByName("collectors").MapKeys() {
			out = append(out, k.FieldByName("Value").String())
		}
	})
	sort.Strings(out)
	return out
}

var _ mo.Reference = (*AlarmManager)(nil)
