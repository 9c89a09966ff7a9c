// Faults on cue, for the fault matrix (cts/tests/faults.rs): what a
// vCenter does when it is in trouble, which the simulator never does by
// itself. Only the faults of the server live here; what a network does
// (stalls, resets, trickles) is cts/src/fault_proxy.rs's.
//
// Control endpoint:
//
//	POST /faults/soap?method=M&count=N&status=S[&fault=F][&text=T]
//	    The next N calls of SOAP method M are answered here, never reaching
//	    the simulator: HTTP status S with a SOAP fault of vim25 type F
//	    (SystemError, ...) whose message is T, or, without F, the text T
//	    (possibly empty: no body at all) as text/plain. What vpxd's
//	    front end (rhttpproxy, envoy) answers while vpxd restarts, or when
//	    vpxd is "Out of HTTP sessions" (503 at Login: kubernetes/kops#2747).
//	POST /faults/soap?method=M&count=N&expire=1
//	    The next N calls of M first end the caller's session (as an
//	    administrator's TerminateSession, or the idle timeout, would), so
//	    that the call itself meets vCenter's NotAuthenticated fault.
//	POST /faults/soap?method=M&count=N&delay_ms=D
//	    The next N calls of M are held D milliseconds, then served as
//	    usual: a vCenter under load that answers late (a Login while vpxd
//	    is busy), so that a test can act while the call is under way.
//	POST /vm/next-power?moref=vm-1&do=fail|hang|delete
//	    The VM's next PowerOn/PowerOff/Reset: a task that fails, a task that
//	    stays "running" for ever (the VM unchanged), or the VM powered off
//	    and destroyed (as another administrator would) just before the call
//	    reaches the simulator, which then answers ManagedObjectNotFound.
package main

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

type soapFault struct {
	count  int
	status int
	fault  string
	text   string
	expire bool
	delay  time.Duration
}

var faults = struct {
	sync.Mutex
	soap      map[string]*soapFault                   // by SOAP method name
	nextPower map[types.ManagedObjectReference]string // "fail", "hang", "delete"
}{
	soap:      map[string]*soapFault{},
	nextPower: map[types.ManagedObjectReference]string{},
}

// takeSoapFault returns the fault armed for this call of method, if any,
// and counts it down.
func takeSoapFault(method string) *soapFault {
	faults.Lock()
	defer faults.Unlock()
	f := faults.soap[method]
	if f == nil || f.count <= 0 {
		return nil
	}
	f.count--
	one := *f
	return &one
}

// injectSoapFault answers the call itself when a fault is armed for it;
// it returns false when the call goes on to the simulator (an expired
// session included).
func injectSoapFault(w http.ResponseWriter, r *http.Request, method string) bool {
	f := takeSoapFault(method)
	if f == nil {
		return false
	}
	if f.expire {
		endSession(sessionKey(r))
		return false
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
		return false
	}
	if f.fault != "" {
		t, ok := typeFunc(f.fault)
		if ok {
			if fault, ok := reflect.New(t).Interface().(types.BaseMethodFault); ok {
				x := &soapFaultXML{Code: "ServerFaultCode", String: f.text}
				x.Detail.Fault = faultDetail{fault}
				writeEnvelope(w, f.status, struct{ Fault *soapFaultXML }{x})
				return true
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.text)))
	w.WriteHeader(f.status)
	_, _ = w.Write([]byte(f.text))
	return true
}

// endSession terminates one session, not counted as a logout.
func endSession(key string) {
	if key == "" {
		return
	}
	state.mu.Lock()
	delete(state.sessions, key)
	state.mu.Unlock()
	_, _ = methods.TerminateSession(context.Background(), state.client, &types.TerminateSession{
		This:      *state.client.ServiceContent.SessionManager,
		SessionId: []string{key},
	})
}

// nextPowerFault does the VM's armed power fault, answering the call, and
// returns true; false when none is armed. Called with state.mu held, which
// it releases when it returns true.
func nextPowerFault(w http.ResponseWriter, vm *simulator.VirtualMachine, method string) bool {
	ref := vm.Self
	faults.Lock()
	what := faults.nextPower[ref]
	delete(faults.nextPower, ref)
	faults.Unlock()
	id := map[string]string{"PowerOnVM_Task": "powerOn", "PowerOffVM_Task": "powerOff", "ResetVM_Task": "reset"}[method]
	switch what {
	case "fail":
		task := startTask(vm, id)
		state.mu.Unlock()
		finishTask(task, &types.LocalizedMethodFault{
			Fault:            &types.GenericVmConfigFault{Reason: "injected by the test"},
			LocalizedMessage: "The operation failed: injected by the test (GenericVmConfigFault)",
		})
		writeTaskResult(w, method, task)
	case "hang":
		task := startTask(vm, id)
		state.pending[ref] = &pendingOp{task: task, kind: "hang"}
		state.mu.Unlock()
		writeTaskResult(w, method, task)
	case "delete":
		state.mu.Unlock()
		withLock(vm, func() {
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
				{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
			})
		})
		_, _ = methods.Destroy_Task(context.Background(), state.client, &types.Destroy_Task{This: ref})
		writeFault(w, "The object has already been deleted or has not been completely created", &types.ManagedObjectNotFound{Obj: ref})
	default:
		return false
	}
	return true
}

func writeTaskResult(w http.ResponseWriter, method string, task *simulator.Task) {
	switch method {
	case "PowerOnVM_Task":
		writeResult(w, &types.PowerOnVM_TaskResponse{Returnval: task.Self})
	case "PowerOffVM_Task":
		writeResult(w, &types.PowerOffVM_TaskResponse{Returnval: task.Self})
	default:
		writeResult(w, &types.ResetVM_TaskResponse{Returnval: task.Self})
	}
}

// withFaultControl serves /faults/... and /vm/next-power on the control
// listener and hands every other path on.
func withFaultControl(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("/faults/soap", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			jsonError(w, http.StatusMethodNotAllowed, "POST only")
			return
		}
		q := r.URL.Query()
		count, err := strconv.Atoi(q.Get("count"))
		if err != nil || count < 0 || q.Get("method") == "" {
			jsonError(w, http.StatusBadRequest, "method and count are required")
			return
		}
		f := &soapFault{count: count, fault: q.Get("fault"), text: q.Get("text"), expire: q.Get("expire") == "1"}
		if ms := q.Get("delay_ms"); ms != "" {
			d, err := strconv.Atoi(ms)
			if err != nil || d <= 0 {
				jsonError(w, http.StatusBadRequest, "delay_ms must be a positive number of milliseconds")
				return
			}
			f.delay = time.Duration(d) * time.Millisecond
		}
		if !f.expire && f.delay == 0 {
			if f.status, err = strconv.Atoi(q.Get("status")); err != nil || f.status < 200 || f.status > 599 {
				jsonError(w, http.StatusBadRequest, "status must be an HTTP status")
				return
			}
			if _, ok := typeFunc(f.fault); f.fault != "" && !ok {
				jsonError(w, http.StatusBadRequest, "no vim25 type "+f.fault)
				return
			}
		}
		faults.Lock()
		faults.soap[q.Get("method")] = f
		faults.Unlock()
		writeJSON(w, http.StatusOK, map[string]int{"armed": count})
	})
	mux.HandleFunc("/vm/next-power", func(w http.ResponseWriter, r *http.Request) {
		vm, ok := controlVM(w, r)
		if !ok {
			return
		}
		what := r.URL.Query().Get("do")
		if what != "fail" && what != "hang" && what != "delete" {
			jsonError(w, http.StatusBadRequest, "do must be fail, hang or delete")
			return
		}
		faults.Lock()
		faults.nextPower[vm.Self] = what
		faults.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"armed": what})
	})
	return mux
}
