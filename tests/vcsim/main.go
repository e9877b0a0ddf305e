// Command vcsim is vcgate's vCenter simulator: govmomi's simulator.VPX()
// inventory served over plain HTTP, extended with what the 0.24.2 simulator
// lacks and vcgate's tests need.
//
// Output: one line `VCSIM_URL=http://127.0.0.1:PORT/sdk` (https with
// -tls-ca-out) on stdout once the server accepts connections; then it serves
// until killed.
//
// Flags:
//
//	-listen ADDR     listen address (default 127.0.0.1:0; pass the old
//	                 address to restart on the same port)
//	-username U      with -password: the only accepted credentials
//	-password P      (without both, any non-empty user/password logs in)
//	-tls-ca-out PATH serve HTTPS with a fresh CA-signed certificate for
//	                 127.0.0.1; the CA is written to PATH as PEM (tls.go)
//	-page-size N     cap every RetrievePropertiesEx answer at N objects and
//	                 serve the rest through ContinueRetrievePropertiesEx
//	                 (paging.go); 0 = only when the client sets maxObjects
//	-trace           write SOAP traffic to stderr
//	-exit-on-stdin-eof  exit when stdin closes: a test harness holds the pipe,
//	                 so a killed test run cannot leave simulators behind
//	-veba-schema TYPES_GO, -veba-json  no simulator: print the VMware Event
//	                 Broker Appliance's view of vCenter events (veba.go)
//
// Extensions (see alarm.go and maintenance.go):
//
//   - an AlarmManager (serviceContent.alarmManager) implementing
//     EnableAlarmActions and AreAlarmActionsEnabled; the flag lives in every
//     entity's alarmActionsEnabled property (default true).
//   - HostSystem.EnterMaintenanceMode_Task / ExitMaintenanceMode_Task post
//     EnteredMaintenanceModeEvent / ExitMaintenanceModeEvent.
//
// Control endpoints (same port and scheme as /sdk, answers are JSON; for
// the event endpoints `user` is the event's userName, default the -username
// flag, else "vcsim"):
//
//	POST /vcsim/events/vm-deployed?vm=MOREF&template=MOREF[&user=NAME]
//	     post a VmDeployedEvent for vm with srcTemplate=template
//	     -> {"key": N}
//	POST /vcsim/events/vm-registered?vm=MOREF[&user=NAME]
//	     post a VmRegisteredEvent for vm -> {"key": N}
//	POST /vcsim/events/post?class=CLASS[&vm=MOREF|&host=MOREF][&message=M]
//	     [&alarm=MOREF&alarm_name=NAME][&from=S&to=S][&user=NAME]
//	     post any Event subclass (e.g. AlarmStatusChangedEvent, VmPoweredOffEvent)
//	     with vm/host/computeResource/datacenter filled from vm or host; see
//	     events.go -> {"key": N}
//	POST /vcsim/maintenance/exit-events?suppress=true|false
//	     when suppressed, ExitMaintenanceMode_Task still leaves maintenance
//	     mode but posts no ExitMaintenanceModeEvent -> {"suppress": B}
//	POST /vcsim/alarm-actions/deny?deny=true|false
//	     when denied, EnableAlarmActions answers a NoPermission fault
//	     (privilegeId Alarm.DisableActions) -> {"deny": B}
//	POST /vcsim/sessions/expire
//	     terminate every SOAP session (the next call gets NotAuthenticated)
//	     -> {"expired": N}
//	GET  /vcsim/collectors
//	     open EventHistoryCollectors -> {"collectors": ["session[..]..", ...]}
//
// Known limits of the 0.24.2 simulator that these extensions do not fix:
// QueryEvents ignores the time filter; an EventHistoryCollector does not
// deliver events posted after its creation to ReadNextEvents (a new event
// overwrites an older slot of the collector's page), so streaming tests
// should create a fresh collector per poll; sessions expired via the control
// API leave their collectors listed in /vcsim/collectors.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	username := flag.String("username", "", "accepted user name (with -password)")
	password := flag.String("password", "", "accepted password (with -username)")
	caOut := flag.String("tls-ca-out", "", "serve HTTPS; write the CA certificate (PEM) to this path")
	pageSize := flag.Int("page-size", 0, "server-side RetrievePropertiesEx page size (0 = maxObjects only)")
	trace := flag.Bool("trace", false, "write SOAP traffic to stderr")
	exitOnEOF := flag.Bool("exit-on-stdin-eof", false, "exit when stdin reaches EOF (parent gone)")
	vebaSchemaFrom := flag.String("veba-schema", "", "print VEBA's field table from govmomi's types.go at this path, then exit (veba.go)")
	vebaJSONMode := flag.Bool("veba-json", false, "print govmomi's JSON of the events in the XML on stdin, then exit (veba.go)")
	flag.Parse()
	if *vebaSchemaFrom != "" || *vebaJSONMode {
		runVebaMode(*vebaSchemaFrom, *vebaJSONMode)
	}

	simulator.Trace = *trace

	model := simulator.VPX()
	if err := model.Create(); err != nil {
		log.Fatalf("vcsim: create model: %v", err)
	}
	defer model.Remove()

	eventUser := "vcsim"
	listenURL := &url.URL{Host: *listen}
	if *username != "" || *password != "" {
		// The simulator only checks credentials when Listen.User is set and
		// differs from its DefaultLogin; otherwise any non-empty pair works.
		listenURL.User = url.UserPassword(*username, *password)
		eventUser = *username
	}
	model.Service.Listen = listenURL
	model.Service.TLS = nil // plain HTTP by default: tests need no certificates
	if *caOut != "" {
		cfg, err := newTLSConfig(*caOut)
		if err != nil {
			log.Fatalf("vcsim: TLS setup: %v", err)
		}
		model.Service.TLS = cfg
	}

	installAlarmManager()
	installPagingCollector(int32(*pageSize))
	hook := installMaintenanceEvents(eventUser)

	server := model.Service.NewServer()
	defer server.Close()

	// The simulator's mux is a plain http.ServeMux, safe to extend after start.
	registerControl(model.Service.ServeMux, hook, eventUser)

	u := *server.URL
	u.User = nil // never print credentials
	fmt.Printf("VCSIM_URL=%s\n", u.String())
	_ = os.Stdout.Sync()

	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGINT, syscall.SIGTERM)
	if *exitOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			done <- syscall.SIGTERM
		}()
	}
	<-done
}
