// AlarmManager for the simulator, which has none in govmomi 0.24.2.
//
// The flag is stored in each entity's own mo.ManagedEntity.AlarmActionsEnabled
// field, so the simulator's PropertyCollector returns it as the
// `alarmActionsEnabled` property with no further plumbing, exactly where
// vCenter exposes it.
package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// AlarmManager implements EnableAlarmActions / AreAlarmActionsEnabled. It is
// also a registry handler (simulator.RegisterObject) so that entities created
// later (CreateVM_Task, ...) get the vCenter default `true` too.
type AlarmManager struct {
	mo.AlarmManager
}

func installAlarmManager() {
	m := &AlarmManager{}
	m.Self = types.ManagedObjectReference{Type: "AlarmManager", Value: "AlarmManager"}
	simulator.Map.Put(m)

	for _, e := range simulator.Map.All("") {
		setDefaultAlarmActions(e)
	}
	simulator.Map.AddHandler(m)

	si := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	si.Content.AlarmManager = &m.Self
}

// setDefaultAlarmActions sets the vCenter default for an entity that has no
// flag yet. No lock: it runs on objects being created or before serving.
func setDefaultAlarmActions(e mo.Entity) {
	if e.Entity().AlarmActionsEnabled == nil {
		e.Entity().AlarmActionsEnabled = types.NewBool(true)
	}
}

func lookupEntity(ctx *simulator.Context, ref types.ManagedObjectReference) (mo.Entity, *soap.Fault) {
	if e, ok := ctx.Map.Get(ref).(mo.Entity); ok {
		return e, nil
	}
	return nil, simulator.Fault("", &types.ManagedObjectNotFound{Obj: ref})
}

// EnableAlarmActions is AlarmManager.EnableAlarmActions(entity, enabled).
func (m *AlarmManager) EnableAlarmActions(ctx *simulator.Context, req *types.EnableAlarmActions) soap.HasFault {
	body := new(methods.EnableAlarmActionsBody)
	if denyAlarmActions.Load() {
		body.Fault_ = noPermissionFault(req.Entity)
		return body
	}
	e, fault := lookupEntity(ctx, req.Entity)
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	ctx.WithLock(e, func() {
		e.Entity().AlarmActionsEnabled = types.NewBool(req.Enabled)
	})
	body.Res = new(types.EnableAlarmActionsResponse)
	return body
}

// AreAlarmActionsEnabled is AlarmManager.AreAlarmActionsEnabled(entity).
func (m *AlarmManager) AreAlarmActionsEnabled(ctx *simulator.Context, req *types.AreAlarmActionsEnabled) soap.HasFault {
	body := new(methods.AreAlarmActionsEnabledBody)
	e, fault := lookupEntity(ctx, req.Entity)
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	enabled := true
	ctx.WithLock(e, func() {
		if v := e.Entity().AlarmActionsEnabled; v != nil {
			enabled = *v
		}
	})
	body.Res = &types.AreAlarmActionsEnabledResponse{Returnval: enabled}
	return body
}

// PutObject gives new entities the default flag (simulator.RegisterObject).
func (m *AlarmManager) PutObject(obj mo.Reference) {
	if e, ok := obj.(mo.Entity); ok {
		setDefaultAlarmActions(e)
	}
}

// UpdateObject is part of simulator.RegisterObject; nothing to do.
func (m *AlarmManager) UpdateObject(mo.Reference, []types.PropertyChange) {}

// RemoveObject is part of simulator.RegisterObject; nothing to do.
func (m *AlarmManager) RemoveObject(types.ManagedObjectReference) {}
