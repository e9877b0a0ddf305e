// Maintenance-mode events, which the 0.24.2 simulator never posts.
//
// HostSystem objects cannot be wrapped in the registry (the simulator
// type-asserts *simulator.HostSystem in many places, e.g. CreateVM), so
// instead a registry handler watches task completions: when a
// HostSystem.enterMaintenanceMode / exitMaintenanceMode task reaches
// `success`, it posts the event vCenter would have posted. Tasks run
// synchronously in the simulator, so the event exists before the task's
// SOAP answer is sent.
package main

import (
	"context"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type maintenanceEvents struct {
	self types.ManagedObjectReference
	// user is the userName written into posted events (the handler does not
	// know which session started the task).
	user string
	// suppressExit drops ExitMaintenanceModeEvent, to test the guard's
	// missed-event path.
	suppressExit atomic.Bool
}

func installMaintenanceEvents(user string) *maintenanceEvents {
	h := &maintenanceEvents{
		self: types.ManagedObjectReference{Type: "VcsimMaintenanceEvents", Value: "vcsim-maintenance-events"},
		user: user,
	}
	simulator.Map.AddHandler(h)
	return h
}

func (h *maintenanceEvents) Reference() types.ManagedObjectReference { return h.self }

func (h *maintenanceEvents) PutObject(mo.Reference) {}

func (h *maintenanceEvents) RemoveObject(types.ManagedObjectReference) {}

func (h *maintenanceEvents) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	task, ok := obj.(*mo.Task)
	if !ok || task.Info.Entity == nil || !completedOK(changes) {
		return
	}
	host, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.HostSystem)
	if !ok {
		return
	}
	var event types.BaseEvent
	switch task.Info.DescriptionId {
	case "HostSystem.enterMaintenanceMode":
		event = &types.EnteredMaintenanceModeEvent{HostEvent: types.HostEvent{Event: hostEventBase(host)}}
	case "HostSystem.exitMaintenanceMode":
		if h.suppressExit.Load() {
			return
		}
		event = &types.ExitMaintenanceModeEvent{HostEvent: types.HostEvent{Event: hostEventBase(host)}}
	default:
		return
	}
	postEvent(h.user, event)
}

func completedOK(changes []types.PropertyChange) bool {
	for _, c := range changes {
		if c.Name == "info.state" && c.Val == types.TaskInfoStateSuccess {
			return true
		}
	}
	return false
}

// hostEventBase fills host, computeResource and datacenter as vCenter does.
func hostEventBase(host *simulator.HostSystem) types.Event {
	e := types.Event{
		Host: &types.HostEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: host.Name},
			Host:                host.Self,
		},
	}
	if host.Parent != nil {
		if cr, ok := simulator.Map.Get(*host.Parent).(mo.Entity); ok {
			e.ComputeResource = &types.ComputeResourceEventArgument{
				EntityEventArgument: types.EntityEventArgument{Name: cr.Entity().Name},
				ComputeResource:     cr.Reference(),
			}
		}
	}
	if dc := datacenterOf(host.Self); dc != nil {
		e.Datacenter = &types.DatacenterEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: dc.Entity().Name},
			Datacenter:          dc.Reference(),
		}
	}
	return e
}

// datacenterOf walks up the parent chain to the entity's Datacenter.
func datacenterOf(ref types.ManagedObjectReference) mo.Entity {
	for {
		e, ok := simulator.Map.Get(ref).(mo.Entity)
		if !ok {
			return nil
		}
		if ref.Type == "Datacenter" {
			return e
		}
		if e.Entity().Parent == nil {
			return nil
		}
		ref = *e.Entity().Parent
	}
}

// postEvent posts through the EventManager so keys, times, messages and open
// collectors behave exactly as for the simulator's own events. PostEvent sets
// userName from the context's session, hence the synthetic session.
func postEvent(user string, event types.BaseEvent) int32 {
	ctx := &simulator.Context{
		Context: context.Background(),
		Session: &simulator.Session{UserSession: types.UserSession{UserName: user}},
		Map:     simulator.Map,
	}
	m := simulator.Map.EventManager()
	simulator.Map.WithLock(m, func() {
		m.PostEvent(ctx, &types.PostEvent{EventToPost: event})
	})
	return event.GetEvent().Key
}
