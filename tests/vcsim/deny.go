// Permission faults for the guard's tests: the 0.24.2 simulator has no
// privilege model, so a switch makes AlarmManager.EnableAlarmActions answer
// NoPermission (privilege Alarm.DisableActions), as vCenter does for an
// account without that privilege.
package main

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// denyAlarmActions makes EnableAlarmActions fail with NoPermission.
var denyAlarmActions atomic.Bool

func noPermissionFault(entity types.ManagedObjectReference) *soap.Fault {
	return simulator.Fault("Permission to perform this operation was denied.", &types.NoPermission{
		Object:      entity,
		PrivilegeId: "Alarm.DisableActions",
	})
}

// registerDenyControl adds POST /vcsim/alarm-actions/deny?deny=true|false.
func registerDenyControl(mux *http.ServeMux) {
	mux.HandleFunc("/vcsim/alarm-actions/deny", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
			return
		}
		switch r.URL.Query().Get("deny") {
		case "true":
			denyAlarmActions.Store(true)
		case "false":
			denyAlarmActions.Store(false)
		default:
			answer(w, nil, fmt.Errorf("deny must be true or false"))
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"deny": denyAlarmActions.Load()})
	})
}
