// Posting arbitrary event classes through the control API, for tests of
// code that reacts to events the simulator never produces (alarm status
// changes, power events with a chosen user, ...).
package main

import (
	"fmt"
	"net/http"
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var (
	alarmArgType  = reflect.TypeOf(types.AlarmEventArgument{})
	entityArgType = reflect.TypeOf(types.ManagedEntityEventArgument{})
)

// postGenericEvent handles
// POST /vcsim/events/post?class=C[&vm=MOREF|&host=MOREF][&message=M]
//
//	[&alarm=MOREF&alarm_name=N][&from=S&to=S][&user=U]
//
// vm/host fill the entity arguments as vCenter does; for AlarmEvent
// subclasses alarm/alarm_name fill `alarm`, the vm/host becomes `entity`
// (and its datacenter `source`), from/to fill AlarmStatusChangedEvent's
// statuses. The message is kept unless the simulator has a message
// template for C (esx.EventInfo), which then wins.
func postGenericEvent(r *http.Request, user string) (interface{}, error) {
	q := r.URL.Query()
	class := q.Get("class")
	typ, ok := types.TypeFunc()(class)
	if !ok {
		return nil, fmt.Errorf("unknown type %q", class)
	}
	val := reflect.New(typ)
	event, ok := val.Interface().(types.BaseEvent)
	if !ok {
		return nil, fmt.Errorf("%q is not an Event class", class)
	}

	var base types.Event
	var entity *types.ManagedEntityEventArgument
	switch {
	case q.Get("vm") != "":
		vm, err := lookupVM(q.Get("vm"))
		if err != nil {
			return nil, err
		}
		base = vmEventBase(vm)
		entity = &types.ManagedEntityEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: vm.Name},
			Entity:              vm.Self,
		}
	case q.Get("host") != "":
		ref := types.ManagedObjectReference{Type: "HostSystem", Value: q.Get("host")}
		host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
		if !ok {
			return nil, fmt.Errorf("no HostSystem %q", ref.Value)
		}
		base = hostEventBase(host)
		entity = &types.ManagedEntityEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: host.Name},
			Entity:              host.Self,
		}
	}
	base.FullFormattedMessage = q.Get("message")
	*event.GetEvent() = base

	fields := val.Elem()
	if f := fields.FieldByName("Alarm"); f.IsValid() && f.Type() == alarmArgType && q.Get("alarm") != "" {
		f.Set(reflect.ValueOf(types.AlarmEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: q.Get("alarm_name")},
			Alarm:               types.ManagedObjectReference{Type: "Alarm", Value: q.Get("alarm")},
		}))
	}
	if entity != nil {
		if f := fields.FieldByName("Entity"); f.IsValid() && f.Type() == entityArgType {
			f.Set(reflect.ValueOf(*entity))
		}
		if f := fields.FieldByName("Source"); f.IsValid() && f.Type() == entityArgType {
			source := *entity
			if dc := base.Datacenter; dc != nil {
				source = types.ManagedEntityEventArgument{EntityEventArgument: dc.EntityEventArgument, Entity: dc.Datacenter}
			}
			f.Set(reflect.ValueOf(source))
		}
	}
	for _, name := range []string{"From", "To"} {
		if f := fields.FieldByName(name); f.IsValid() && f.Kind() == reflect.String {
			f.SetString(q.Get(map[string]string{"From": "from", "To": "to"}[name]))
		}
	}
	return map[string]int32{"key": postEvent(user, event)}, nil
}
