// Command vcsim runs VMware's own vSphere API simulator (the `simulator`
// package of govmomi, as packaged by Debian: golang-github-vmware-govmomi-dev)
// as a test peer for the fence agents' integration tests.
//
// The SOAP API itself -- sessions, the PropertyCollector, the SearchIndex,
// VirtualMachine power operations, tasks, faults -- is served by VMware's
// simulator.  This program only *wraps* it, to add the behaviours the
// simulator lacks (in the 0.24 version we build against) and which the
// tests need:
//
//   - TLS with a freshly generated CA: DIR/ca.pem is the CA a client must
//     trust, the server certificate is issued for localhost, 127.0.0.1, ::1.
//   - Authentication: the simulator either accepts any non-empty
//     user/password or exactly one user.  We accept user U (-user) and the
//     extra user "readonly", both with password P (-pass); any other Login is
//     turned into a Login the simulator itself rejects, so the client gets
//     the simulator's normal InvalidLogin fault.
//     Other login methods (LoginByToken, LoginExtensionByCertificate, ...)
//     are refused with InvalidLogin.
//   - Authorization: the simulator has no permission model.  Calls to
//     PowerOnVM_Task, PowerOffVM_Task, ResetVM_Task and AnswerVM made in a
//     session of the user "readonly" get a NoPermission fault.
//   - Asynchronous tasks: the simulator completes every task before the SOAP
//     call returns.  For the VM named "slow", PowerOnVM_Task/PowerOffVM_Task
//     return a task that stays "running" for -slow-seconds before the power
//     operation is really performed (by the simulator).
//   - VM questions: the simulator has no runtime.question and no AnswerVM.
//     PowerOnVM_Task on the VM named "questioned" (when it is not already
//     on), or on a VM armed with POST /vm/question-kind, raises a question in
//     runtime.question (ids _vmx1, _vmx2, ...) in vSphere's shape (see
//     questionKinds: message id, choice keys, labels and summaries,
//     defaultIndex), and its task stays "running", the VM poweredOff, until
//     AnswerVM is called with the question's id and a valid key: the question
//     is then cleared and the task completes (power-on done by the
//     simulator), except for a Cancel choice, which fails the task and leaves
//     the VM off. Answering "I copied it" also gives the VM a new BIOS UUID,
//     as vSphere does.
//   - Paging: the simulator ignores RetrievePropertiesEx options.maxObjects
//     and has no ContinueRetrievePropertiesEx/CancelRetrievePropertiesEx.  The
//     PropertyCollector is wrapped so results are returned in pages of at
//     most maxObjects objects, with a token for ContinueRetrievePropertiesEx.
//   - Without a session the simulator answers RetrieveProperties(Ex) with
//     every property in missingSet; vCenter (and this wrapper) answers with
//     a NotAuthenticated fault, so clients can detect an expired session.
//   - Guest shutdown and boot order (guest.go): VMware Tools never runs in
//     the simulator's guests, and its ShutdownGuest powers any VM off; here
//     ShutdownGuest answers ToolsUnavailable, as vSphere does, unless the
//     VM's tools were set running (POST /vm/tools), and then powers it off.
//     A ReconfigVM_Task boot order of one base-type entry clears the order,
//     as on vSphere, instead of being stored.
//   - SearchIndex.FindAllByUuid is missing and FindByUuid ignores its
//     datacenter argument and returns a random match when several VMs share
//     a UUID; both are answered here, restricted to the datacenter and in a
//     stable (moref) order.
//   - Instrumentation: successful Login and Logout calls are counted, every
//     SOAP call is counted per method name, and a plain-HTTP control endpoint
//     (-control) lets tests inspect and change state without going through
//     SOAP:
//     GET  /sessions            {"logins":N,"logouts":M,"active":K}
//     POST /sessions/terminate  end all sessions (not counted as logouts)
//     GET  /calls               {"RetrievePropertiesEx":3,...}
//     GET  /vm[?name=N][&dc=DC][&moref=vm-1]  always a JSON list (power,
//     connection, template, question, bios_uuid, host, host_connection,
//     tools_running, firmware, boot_order ["ethernet:4000","cdrom",...], ...)
//     POST /vm/power?moref=vm-1&state=poweredOn|poweredOff|suspended
//     POST /vm/connection?moref=vm-1&state=S  runtime.connectionState: S is
//     connected, disconnected, orphaned, inaccessible or invalid
//     POST /host/connection?moref=host-1&state=connected|disconnected|notResponding
//     POST /vm/template?moref=vm-1&template=true|false  config.template
//     POST /vm/question-kind?moref=vm-1&kind=K  the question the next power-on
//     raises: moved-or-copied, serial-file, out-of-space, or none
//     POST /vm/tools?moref=vm-1&running=true|false  guest.toolsRunningStatus
//     GET  /answers             every AnswerVM accepted, in order
//     GET  /inventory           same content as DIR/inventory.json
//     POST /faults/soap, POST /vm/next-power  faults on cue: see faults.go
//
// Files written to the state directory (-state-dir DIR): ca.pem and
// server-fingerprint (unless -plain-http), inventory.json, and last
// ready.json (atomically), whose content is also printed on stdout:
//
//	{"url":"https://127.0.0.1:PORT/sdk","port":PORT,"pid":PID,
//	 "control":"127.0.0.1:CPORT","mode":"vcenter"|"esx"}
//
// ready.json is removed again on SIGTERM/SIGINT, after which we exit 0.
//
// Go cannot override methods of the simulator's VirtualMachine,
// SessionManager or SearchIndex objects (the simulator type-asserts their
// concrete types), so those behaviours are added by wrapping the HTTP/SOAP
// handler in front of the simulator, i.e. at the session/dispatch layer.
// The PropertyCollector *is* replaced by a wrapper type embedding the
// simulator's one.
//
// Usage:
//
//	vcsim -listen 127.0.0.1:0 -state-dir DIR [-plain-http] [-user U -pass P]
//	      [-vcenter|-esx] [-slow-seconds N] [-control 127.0.0.1:0] [-trace]
//	      [-extra-vms N]
//
// The vSphere Automation (REST) API, /rest and /api: see rest.go.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	stdxml "encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

const readonlyUser = "readonly"

// ---------------------------------------------------------------------------
// Shared state of the wrapper.

type pendingOp struct {
	task       *simulator.Task
	kind       string // "slow" or "question"
	questionID string
}

// answerRecord is one accepted AnswerVM call, for GET /answers.
type answerRecord struct {
	VM         string `json:"vm"`
	QuestionID string `json:"question_id"`
	MessageID  string `json:"message_id"`
	Choice     string `json:"choice"`
}

type wrapperState struct {
	mu       sync.Mutex
	calls    map[string]int
	logins   int
	logouts  int
	sessions map[string]string // session cookie -> user name
	pending  map[types.ManagedObjectReference]*pendingOp
	qseq     int
	answers  []answerRecord // every AnswerVM accepted, in order

	user, pass string
	slow       time.Duration

	// Special VMs, by moref: the question kind (a key of questionKinds)
	// the next PowerOnVM_Task raises, and the VMs whose power tasks are slow.
	questioned map[types.ManagedObjectReference]string
	slowVMs    map[types.ManagedObjectReference]bool

	// In-process client talking to the simulator directly (no HTTP, no
	// wrapper), used to perform the real power operations.
	client *vim25.Client
}

var state = &wrapperState{
	calls:      map[string]int{},
	sessions:   map[string]string{},
	pending:    map[types.ManagedObjectReference]*pendingOp{},
	questioned: map[types.ManagedObjectReference]string{},
	slowVMs:    map[types.ManagedObjectReference]bool{},
}

// ---------------------------------------------------------------------------
// SOAP encoding helpers (same envelope shape as the simulator produces).

var vimTypeFunc = types.TypeFunc()

func typeFunc(name string) (reflect.Type, bool) {
	if t, ok := vimTypeFunc(name); ok {
		return t, true
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return vimTypeFunc(name[i+1:])
	}
	return nil, false
}

type envelope struct {
	XMLName xml.Name    `xml:"soapenv:Envelope"`
	Enc     string      `xml:"xmlns:soapenc,attr"`
	Env     string      `xml:"xmlns:soapenv,attr"`
	XSD     string      `xml:"xmlns:xsd,attr"`
	XSI     string      `xml:"xmlns:xsi,attr"`
	Body    interface{} `xml:"soapenv:Body"`
}

// resultBody encodes <XxxResponse xmlns="urn:vim25">...</XxxResponse>.
type resultBody struct{ res interface{} }

func (b resultBody) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	name := xml.Name{Space: "urn:" + vim25.Namespace, Local: reflect.TypeOf(b.res).Elem().Name()}
	if err := e.EncodeElement(b.res, xml.StartElement{Name: name}); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

type faultDetail struct{ fault types.BaseMethodFault }

func (d faultDetail) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	kind := reflect.TypeOf(d.fault).Elem().Name()
	start.Name = xml.Name{Local: kind + "Fault"}
	start.Attr = append(start.Attr,
		xml.Attr{Name: xml.Name{Local: "xmlns"}, Value: "urn:" + vim25.Namespace},
		xml.Attr{Name: xml.Name{Local: "xsi:type"}, Value: kind})
	return e.EncodeElement(d.fault, start)
}

type soapFaultXML struct {
	XMLName xml.Name `xml:"soapenv:Fault"`
	Code    string   `xml:"faultcode"`
	String  string   `xml:"faultstring"`
	Detail  struct {
		Fault faultDetail
	} `xml:"detail"`
}

func writeEnvelope(w http.ResponseWriter, status int, body interface{}) {
	var out bytes.Buffer
	out.WriteString(xml.Header)
	enc := xml.NewEncoder(&out)
	err := enc.Encode(&envelope{
		Enc:  "http://schemas.xmlsoap.org/soap/encoding/",
		Env:  "http://schemas.xmlsoap.org/soap/envelope/",
		XSD:  "http://www.w3.org/2001/XMLSchema",
		XSI:  "http://www.w3.org/2001/XMLSchema-instance",
		Body: body,
	})
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		log.Printf("vcsim wrapper: encoding response: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(out.Bytes())
}

func writeResult(w http.ResponseWriter, res interface{}) {
	writeEnvelope(w, http.StatusOK, resultBody{res})
}

func writeFault(w http.ResponseWriter, msg string, fault types.BaseMethodFault) {
	f := &soapFaultXML{Code: "ServerFaultCode", String: msg}
	f.Detail.Fault = faultDetail{fault}
	writeEnvelope(w, http.StatusInternalServerError, struct{ Fault *soapFaultXML }{f})
}

// soapMethodName returns the local name of the first element in the SOAP Body.
func soapMethodName(body []byte) string {
	d := stdxml.NewDecoder(bytes.NewReader(body))
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(stdxml.StartElement); ok {
			if inBody {
				return se.Name.Local
			}
			if se.Name.Local == "Body" {
				inBody = true
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Helpers reading the simulator's objects.

func withLock(obj mo.Reference, f func()) { simulator.Map.WithLock(obj, f) }

func lookupVM(ref types.ManagedObjectReference) *simulator.VirtualMachine {
	if ref.Type != "VirtualMachine" {
		return nil
	}
	vm, _ := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	return vm
}

func entityOf(ref types.ManagedObjectReference) mo.Entity {
	e, _ := simulator.Map.Get(ref).(mo.Entity)
	return e
}

// entityName mirrors the simulator: a few types carry their own Name field.
func entityName(e mo.Entity) string {
	if n := e.Entity().Name; n != "" {
		return n
	}
	return e.Reference().Value
}

// inventoryPath returns e.g. /DC0/vm/sub/dup (the root folder is omitted).
func inventoryPath(e mo.Entity) string {
	var names []string
	for e != nil {
		parent := e.Entity().Parent
		if parent == nil {
			break // root folder
		}
		names = append(names, entityName(e))
		e = entityOf(*parent)
	}
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return "/" + strings.Join(names, "/")
}

func datacenterOf(e mo.Entity) mo.Entity {
	for e != nil {
		if e.Reference().Type == "Datacenter" {
			return e
		}
		parent := e.Entity().Parent
		if parent == nil {
			return nil
		}
		e = entityOf(*parent)
	}
	return nil
}

func morefLess(a, b types.ManagedObjectReference) bool {
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	na, ea := strconv.Atoi(a.Value[strings.LastIndexByte(a.Value, '-')+1:])
	nb, eb := strconv.Atoi(b.Value[strings.LastIndexByte(b.Value, '-')+1:])
	if ea == nil && eb == nil && na != nb {
		return na < nb
	}
	return a.Value < b.Value
}

func allVMs() []*simulator.VirtualMachine {
	var vms []*simulator.VirtualMachine
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok {
			vms = append(vms, vm)
		}
	}
	sort.Slice(vms, func(i, j int) bool { return morefLess(vms[i].Self, vms[j].Self) })
	return vms
}

// ---------------------------------------------------------------------------
// Tasks that really run asynchronously (the simulator's Task.Run is
// synchronous).  The task object is the simulator's own Task, registered in
// its Map, so TaskInfo is read through the normal PropertyCollector.

func startTask(vm *simulator.VirtualMachine, id string) *simulator.Task {
	task := simulator.CreateTask(vm, id, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, nil // never executed: we drive the state ourselves
	})
	var name string
	withLock(vm, func() { name = vm.Name })
	withLock(task, func() {
		task.Info.EntityName = name
		simulator.Map.Update(task, []types.PropertyChange{
			{Name: "info.startTime", Val: time.Now()},
			{Name: "info.state", Val: types.TaskInfoStateRunning},
			{Name: "info.progress", Val: int32(0)},
		})
	})
	return task
}

func setTaskProgress(task *simulator.Task, pct int32) {
	withLock(task, func() {
		simulator.Map.Update(task, []types.PropertyChange{{Name: "info.progress", Val: pct}})
	})
}

func finishTask(task *simulator.Task, fault *types.LocalizedMethodFault) {
	changes := []types.PropertyChange{
		{Name: "info.completeTime", Val: time.Now()},
		{Name: "info.result", Val: nil},
	}
	if fault != nil {
		changes = append(changes,
			types.PropertyChange{Name: "info.state", Val: types.TaskInfoStateError},
			types.PropertyChange{Name: "info.error", Val: *fault})
	} else {
		changes = append(changes,
			types.PropertyChange{Name: "info.state", Val: types.TaskInfoStateSuccess},
			types.PropertyChange{Name: "info.progress", Val: int32(100)},
			types.PropertyChange{Name: "info.error", Val: nil})
	}
	withLock(task, func() { simulator.Map.Update(task, changes) })
}

// simulatorPowerOp performs the power operation with the simulator's own
// implementation (through the in-process client, so the simulator does its
// own locking, state checks and events) and returns the error of the
// simulator's task, if any.
func simulatorPowerOp(ref types.ManagedObjectReference, method string) *types.LocalizedMethodFault {
	ctx := context.Background()
	var taskRef types.ManagedObjectReference
	var err error
	switch method {
	case "PowerOnVM_Task":
		var res *types.PowerOnVM_TaskResponse
		res, err = methods.PowerOnVM_Task(ctx, state.client, &types.PowerOnVM_Task{This: ref})
		if err == nil {
			taskRef = res.Returnval
		}
	case "PowerOffVM_Task":
		var res *types.PowerOffVM_TaskResponse
		res, err = methods.PowerOffVM_Task(ctx, state.client, &types.PowerOffVM_Task{This: ref})
		if err == nil {
			taskRef = res.Returnval
		}
	default:
		err = fmt.Errorf("unsupported method %s", method)
	}
	if err != nil {
		var fault types.BaseMethodFault = &types.SystemError{Reason: err.Error()}
		if soap.IsSoapFault(err) {
			if f, ok := soap.ToSoapFault(err).VimFault().(types.BaseMethodFault); ok {
				fault = f
			}
		}
		return &types.LocalizedMethodFault{Fault: fault, LocalizedMessage: err.Error()}
	}
	task, ok := simulator.Map.Get(taskRef).(*simulator.Task)
	if !ok {
		return nil
	}
	var info *types.LocalizedMethodFault
	withLock(task, func() {
		if task.Info.Error != nil {
			e := *task.Info.Error
			info = &e
		}
	})
	return info
}

// ---------------------------------------------------------------------------
// The HTTP/SOAP front end wrapping the simulator's handler.

type frontEnd struct {
	next http.Handler
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (f *frontEnd) forward(w http.ResponseWriter, r *http.Request, body []byte) int {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	rec := &statusRecorder{ResponseWriter: w}
	f.next.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.status
}

func sessionKey(r *http.Request) string {
	if c, err := r.Cookie(soap.SessionCookieName); err == nil {
		return c.Value
	}
	return ""
}

// sessionUser returns the user of the request's session, as recorded by our
// Login wrapper ("" when unknown: the simulator then decides).
func sessionUser(r *http.Request) string {
	key := sessionKey(r)
	if key == "" {
		return ""
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.sessions[key]
}

func (f *frontEnd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/sdk/vimService" {
		r.URL.Path = "/sdk" // alias served by real vCenter and by the simulator's own server
	}
	if r.Method != http.MethodPost || r.URL.Path != "/sdk" {
		f.next.ServeHTTP(w, r)
		return
	}
	if !sdkServed() { // rest.go: POST /rest/sdk?enabled=false
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := soapMethodName(body)
	if name != "" {
		state.mu.Lock()
		state.calls[name]++
		state.mu.Unlock()
	}
	if injectSoapFault(w, r, name) { // faults.go
		return
	}

	switch name {
	case "Login":
		f.login(w, r, body)
	case "LoginByToken", "LoginExtensionByCertificate", "LoginExtensionBySubjectName", "LoginBySSPI", "ImpersonateUser":
		// The simulator accepts any token/certificate; only password logins
		// of the configured users are allowed here.
		writeFault(w, "Login failure", &types.InvalidLogin{})
	case "Logout":
		key := sessionKey(r)
		if f.forward(w, r, body) == http.StatusOK {
			state.mu.Lock()
			state.logouts++
			delete(state.sessions, key)
			state.mu.Unlock()
		}
	case "TerminateSession":
		method, err := simulator.UnmarshalBody(typeFunc, body)
		if f.forward(w, r, body) == http.StatusOK && err == nil {
			if req, ok := method.Body.(*types.TerminateSession); ok {
				state.mu.Lock()
				for _, id := range req.SessionId {
					delete(state.sessions, id)
				}
				state.mu.Unlock()
			}
		}
	case "PowerOnVM_Task", "PowerOffVM_Task", "ResetVM_Task":
		f.power(w, r, body, name)
	case "AnswerVM":
		f.answer(w, r, body)
	case "FindByUuid", "FindAllByUuid":
		f.findByUUID(w, r, body, name)
	case "ShutdownGuest":
		f.shutdownGuest(w, r, body)
	case "ReconfigVM_Task":
		f.reconfigVM(w, r, body)
	default:
		f.forward(w, r, body)
	}
}

// login: only -user/-pass and "readonly"/-pass may log in.  A rejected Login
// is forwarded with an empty password, which the simulator always refuses, so
// the client sees the simulator's normal InvalidLogin fault.
func (f *frontEnd) login(w http.ResponseWriter, r *http.Request, body []byte) {
	method, err := simulator.UnmarshalBody(typeFunc, body)
	if err != nil {
		f.forward(w, r, body)
		return
	}
	req, ok := method.Body.(*types.Login)
	if !ok {
		f.forward(w, r, body)
		return
	}
	user := req.UserName
	good := (user == state.user || user == readonlyUser) && req.Password == state.pass && state.pass != "" &&
		soapLoginAllowed(user) // rest.go: POST /rest/soap-login
	if !good {
		req.Password = ""
		var buf bytes.Buffer
		buf.WriteString(xml.Header)
		if err := xml.NewEncoder(&buf).Encode(&soap.Envelope{Body: &methods.LoginBody{Req: req}}); err != nil {
			writeFault(w, "Login failure", &types.InvalidLogin{})
			return
		}
		body = buf.Bytes()
	}
	if f.forward(w, r, body) != http.StatusOK || !good {
		return
	}
	resp := http.Response{Header: http.Header{"Set-Cookie": w.Header().Values("Set-Cookie")}}
	for _, c := range resp.Cookies() {
		if c.Name == soap.SessionCookieName {
			state.mu.Lock()
			state.sessions[c.Value] = user
			state.logins++
			state.mu.Unlock()
		}
	}
}

var powerPrivilege = map[string]string{
	"PowerOnVM_Task":  "VirtualMachine.Interact.PowerOn",
	"PowerOffVM_Task": "VirtualMachine.Interact.PowerOff",
	"ResetVM_Task":    "VirtualMachine.Interact.Reset",
	"AnswerVM":        "VirtualMachine.Interact.AnswerQuestion",
}

func noPermission(w http.ResponseWriter, ref types.ManagedObjectReference, method string) {
	writeFault(w, "Permission to perform this operation was denied.", &types.NoPermission{
		Object:      ref,
		PrivilegeId: powerPrivilege[method],
	})
}

func (f *frontEnd) power(w http.ResponseWriter, r *http.Request, body []byte, name string) {
	method, err := simulator.UnmarshalBody(typeFunc, body)
	user := sessionUser(r)
	if err != nil || user == "" {
		f.forward(w, r, body) // let the simulator produce its own fault
		return
	}
	vm := lookupVM(method.This)
	if vm == nil {
		f.forward(w, r, body)
		return
	}
	ref := vm.Self
	if user == readonlyUser {
		noPermission(w, ref, name)
		return
	}

	state.mu.Lock()
	if p := state.pending[ref]; p != nil {
		state.mu.Unlock()
		writeFault(w, "Another task is already in progress.", &types.TaskInProgress{Task: p.task.Self})
		return
	}
	var power types.VirtualMachinePowerState
	withLock(vm, func() { power = vm.Runtime.PowerState })
	if nextPowerFault(w, vm, name) { // faults.go; releases state.mu
		return
	}
	target := types.VirtualMachinePowerStatePoweredOn
	if name == "PowerOffVM_Task" {
		target = types.VirtualMachinePowerStatePoweredOff
	}
	// A request for the current state is left to the simulator, which
	// fails the task with InvalidPowerState at once (as vSphere does).
	switch {
	case name == "PowerOnVM_Task" && state.questioned[ref] != "" && power != target:
		state.qseq++
		qid := fmt.Sprintf("_vmx%d", state.qseq)
		kind := questionKinds[state.questioned[ref]]
		task := startTask(vm, "powerOn")
		state.pending[ref] = &pendingOp{task: task, kind: "question", questionID: qid}
		state.mu.Unlock()
		raiseQuestion(vm, questionInfo(qid, kind))
		writeResult(w, &types.PowerOnVM_TaskResponse{Returnval: task.Self})
	case (name == "PowerOnVM_Task" || name == "PowerOffVM_Task") && state.slowVMs[ref] && power != target:
		id := "powerOn"
		if name == "PowerOffVM_Task" {
			id = "powerOff"
		}
		task := startTask(vm, id)
		state.pending[ref] = &pendingOp{task: task, kind: "slow"}
		state.mu.Unlock()
		go runSlow(ref, task, name)
		if name == "PowerOnVM_Task" {
			writeResult(w, &types.PowerOnVM_TaskResponse{Returnval: task.Self})
		} else {
			writeResult(w, &types.PowerOffVM_TaskResponse{Returnval: task.Self})
		}
	default:
		state.mu.Unlock()
		f.forward(w, r, body)
	}
}

func runSlow(ref types.ManagedObjectReference, task *simulator.Task, method string) {
	start := time.Now()
	for {
		elapsed := time.Since(start)
		if elapsed >= state.slow {
			break
		}
		step := time.Second
		if rest := state.slow - elapsed; rest < step {
			step = rest
		}
		time.Sleep(step)
		pct := int32(time.Since(start) * 100 / state.slow)
		if pct > 99 {
			pct = 99
		}
		setTaskProgress(task, pct)
	}
	fault := simulatorPowerOp(ref, method)
	state.mu.Lock()
	delete(state.pending, ref)
	state.mu.Unlock()
	finishTask(task, fault)
}

// questionChoice is one answer a VM question offers: the key AnswerVM
// takes, the label (vSphere's stable localization key, which scripts match
// on) and the summary (the words the vSphere Client shows); effect is what
// choosing it does here: "proceed" (the power-on completes), "new-identity"
// (it completes and the VM gets a new BIOS UUID, as a copied VM does) or
// "cancel" (the power-on task fails, the VM stays off).
type questionChoice struct {
	key, label, summary, effect string
}

// questionKind is the shape of one VirtualMachineQuestionInfo.
type questionKind struct {
	messageID    string
	text         string
	choices      []questionChoice
	defaultIndex int32
}

// questionKinds are the questions a PowerOnVM_Task can raise here, by the
// name the control endpoint uses (POST /vm/question-kind).
var questionKinds = map[string]questionKind{
	// The real "moved or copied" question: message id msg.uuid.altered,
	// choices keyed "0", "1", "2" whose labels are button.uuid.cancel,
	// button.uuid.movedTheVM and button.uuid.copiedTheVM, "I copied it" the
	// default. Sources: PowerCLI scripts answer it with Set-VMQuestion
	// -Option 'button.uuid.movedTheVM'; pyVmomi scripts look for the choice
	// whose label is button.uuid.movedTheVM and send its key ("1"); Apache
	// CloudStack's VirtualMachineMO.powerOn() answers msg.uuid.altered with
	// key "1" ("moved it"); Ansible's vmware_guest_powerstate documents
	// msg.uuid.altered with button.uuid.copiedTheVM. Answering "copied"
	// gives the VM a new BIOS UUID (and MAC addresses), which is modelled.
	"moved-or-copied": {
		messageID: "msg.uuid.altered",
		text: "This virtual machine might have been moved or copied. In order to configure certain " +
			"management and networking features, VMware ESX needs to know if this virtual machine " +
			"was moved or copied. If you don't know, answer \"I Copied It\".",
		choices: []questionChoice{
			{"0", "button.uuid.cancel", "Cancel", "cancel"},
			{"1", "button.uuid.movedTheVM", "I Moved It", "proceed"},
			{"2", "button.uuid.copiedTheVM", "I Copied It", "new-identity"},
		},
		defaultIndex: 2,
	},
	// A file-backed serial port whose file exists (libvirt's ESX driver
	// README, seed 002, describes it blocking a power-on; vSphere
	// Integrated Containers preset answer.msg.serial.file.open). The message
	// id is real; the keys, labels and order are modelled, not copied from a
	// host. The default is not the first choice because govmomi's encoder
	// drops a defaultIndex of 0 (omitempty), which reads as "no default".
	"serial-file": {
		messageID: "msg.serial.file.open",
		text:      "The file specified for serial port 1 already exists. Do you want to replace it or append to it?",
		choices: []questionChoice{
			{"0", "button.replace", "Replace", "proceed"},
			{"1", "button.append", "Append", "proceed"},
			{"2", "button.cancel", "Cancel", "cancel"},
		},
		defaultIndex: 1,
	},
	// A datastore out of space (message id as vmware.log shows it); keys,
	// labels and default modelled. No fence agent should answer it.
	"out-of-space": {
		messageID: "msg.hbacommon.outofspace",
		text:      "There is no more space for virtual disk node.vmdk. You might be able to continue this session by freeing disk space on the relevant volume, and clicking Retry. Click Cancel to terminate this session.",
		choices: []questionChoice{
			{"0", "button.abort", "Cancel", "cancel"},
			{"1", "button.retry", "Retry", "proceed"},
		},
		defaultIndex: 1,
	},
}

func questionInfo(qid string, kind questionKind) *types.VirtualMachineQuestionInfo {
	var choices []types.BaseElementDescription
	for _, c := range kind.choices {
		choices = append(choices, &types.ElementDescription{
			Description: types.Description{Label: c.label, Summary: c.summary},
			Key:         c.key,
		})
	}
	return &types.VirtualMachineQuestionInfo{
		Id:     qid,
		Text:   kind.messageID + ":" + kind.text,
		Choice: types.ChoiceOption{ChoiceInfo: choices, DefaultIndex: kind.defaultIndex},
		Message: []types.VirtualMachineMessage{{
			Id:   kind.messageID,
			Text: kind.text,
		}},
	}
}

func raiseQuestion(vm *simulator.VirtualMachine, q *types.VirtualMachineQuestionInfo) {
	withLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "runtime.question", Val: q},
			{Name: "summary.runtime.question", Val: q},
		})
	})
}

func clearQuestion(vm *simulator.VirtualMachine) {
	withLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "runtime.question", Val: nil},
			{Name: "summary.runtime.question", Val: nil},
		})
	})
}

// newIdentity gives a VM a new BIOS UUID, as answering "I copied it" does.
func newIdentity(vm *simulator.VirtualMachine) {
	bios := randomUUID()
	withLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "config.uuid", Val: bios},
			{Name: "summary.config.uuid", Val: bios},
		})
	})
}

// answer implements VirtualMachine.AnswerVM (missing from the simulator).
func (f *frontEnd) answer(w http.ResponseWriter, r *http.Request, body []byte) {
	method, err := simulator.UnmarshalBody(typeFunc, body)
	user := sessionUser(r)
	if err != nil || user == "" {
		f.forward(w, r, body)
		return
	}
	req, ok := method.Body.(*types.AnswerVM)
	vm := lookupVM(method.This)
	if !ok || vm == nil {
		f.forward(w, r, body)
		return
	}
	ref := vm.Self
	if user == readonlyUser {
		noPermission(w, ref, "AnswerVM")
		return
	}

	state.mu.Lock()
	var q *types.VirtualMachineQuestionInfo
	withLock(vm, func() { q = vm.Runtime.Question })
	if q == nil {
		state.mu.Unlock()
		writeFault(w, "The question has already been answered.", &types.ConcurrentAccess{})
		return
	}
	if q.Id != req.QuestionId {
		state.mu.Unlock()
		writeFault(w, "A specified parameter was not correct: questionId", &types.InvalidArgument{InvalidProperty: "questionId"})
		return
	}
	effect := ""
	for _, kind := range questionKinds {
		if len(q.Message) == 0 || q.Message[0].Id != kind.messageID {
			continue
		}
		for _, c := range kind.choices {
			if c.key == req.AnswerChoice {
				effect = c.effect
			}
		}
	}
	if effect == "" {
		state.mu.Unlock()
		writeFault(w, "A specified parameter was not correct: answerChoice", &types.InvalidArgument{InvalidProperty: "answerChoice"})
		return
	}
	op := state.pending[ref]
	if op != nil && op.kind == "question" {
		delete(state.pending, ref)
	} else {
		op = nil
	}
	state.answers = append(state.answers, answerRecord{VM: ref.Value, QuestionID: q.Id, MessageID: q.Message[0].Id, Choice: req.AnswerChoice})
	state.mu.Unlock()

	clearQuestion(vm)
	if effect == "new-identity" {
		newIdentity(vm)
	}
	if op != nil {
		if effect == "cancel" {
			finishTask(op.task, &types.LocalizedMethodFault{
				Fault:            &types.GenericVmConfigFault{Reason: "Power on cancelled: question answered with Cancel"},
				LocalizedMessage: "Power on cancelled: question answered with Cancel",
			})
		} else {
			finishTask(op.task, simulatorPowerOp(ref, "PowerOnVM_Task"))
		}
	}
	writeResult(w, &types.AnswerVMResponse{})
}

// findByUUID answers SearchIndex.FindByUuid and FindAllByUuid.
func (f *frontEnd) findByUUID(w http.ResponseWriter, r *http.Request, body []byte, name string) {
	method, err := simulator.UnmarshalBody(typeFunc, body)
	if err != nil || sessionUser(r) == "" {
		f.forward(w, r, body)
		return
	}
	if _, ok := simulator.Map.Get(method.This).(*simulator.SearchIndex); !ok {
		f.forward(w, r, body)
		return
	}
	var dc *types.ManagedObjectReference
	var uuid string
	var vmSearch, instance bool
	switch req := method.Body.(type) {
	case *types.FindByUuid:
		dc, uuid, vmSearch, instance = req.Datacenter, req.Uuid, req.VmSearch, req.InstanceUuid != nil && *req.InstanceUuid
	case *types.FindAllByUuid:
		dc, uuid, vmSearch, instance = req.Datacenter, req.Uuid, req.VmSearch, req.InstanceUuid != nil && *req.InstanceUuid
	default:
		f.forward(w, r, body)
		return
	}
	if dc != nil && entityOf(*dc) == nil {
		writeFault(w, "The object has already been deleted or has not been completely created", &types.ManagedObjectNotFound{Obj: *dc})
		return
	}
	var found []types.ManagedObjectReference
	inDC := func(e mo.Entity) bool {
		if dc == nil {
			return true
		}
		d := datacenterOf(e)
		return d != nil && d.Reference() == *dc
	}
	if vmSearch {
		for _, vm := range allVMs() {
			var id string
			withLock(vm, func() {
				if vm.Config != nil {
					id = vm.Config.Uuid
					if instance {
						id = vm.Config.InstanceUuid
					}
				}
			})
			if id != "" && strings.EqualFold(id, uuid) && inDC(vm) {
				found = append(found, vm.Self)
			}
		}
	} else {
		for _, e := range simulator.Map.All("HostSystem") {
			host, ok := e.(*simulator.HostSystem)
			if !ok {
				continue
			}
			var id string
			withLock(host, func() {
				if host.Summary.Hardware != nil {
					id = host.Summary.Hardware.Uuid
				}
			})
			if id != "" && strings.EqualFold(id, uuid) && inDC(host) {
				found = append(found, host.Self)
			}
		}
		sort.Slice(found, func(i, j int) bool { return morefLess(found[i], found[j]) })
	}
	if name == "FindAllByUuid" {
		writeResult(w, &types.FindAllByUuidResponse{Returnval: found})
		return
	}
	res := &types.FindByUuidResponse{}
	if len(found) > 0 {
		res.Returnval = &found[0]
	}
	writeResult(w, res)
}

// ---------------------------------------------------------------------------
// PropertyCollector wrapper: paging for RetrievePropertiesEx.

type pagedResult struct {
	session string
	objects []types.ObjectContent
	size    int
}

var pages = struct {
	sync.Mutex
	m map[string]*pagedResult
}{m: map[string]*pagedResult{}}

// pagingCollector embeds the simulator's PropertyCollector (it must stay the
// first field: the simulator digs the mo type out of field 0) and adds what
// 0.24 lacks: maxObjects, ContinueRetrievePropertiesEx and
// CancelRetrievePropertiesEx.
type pagingCollector struct {
	simulator.PropertyCollector
}

func ctxSession(ctx *simulator.Context) string {
	if ctx.Session != nil {
		return ctx.Session.Key
	}
	return ""
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// page cuts objects to at most size entries, storing the rest under a token.
func page(session string, objects []types.ObjectContent, size int) *types.RetrieveResult {
	if size <= 0 || len(objects) <= size {
		return &types.RetrieveResult{Objects: objects}
	}
	token := newToken()
	pages.Lock()
	pages.m[token] = &pagedResult{session: session, objects: objects[size:], size: size}
	pages.Unlock()
	return &types.RetrieveResult{Token: token, Objects: objects[:size]}
}

// notAuthenticated: the simulator lets RetrieveProperties(Ex) run without a
// session (it then reports every property in missingSet); vCenter answers
// with a NotAuthenticated fault, which is what clients use to detect an
// expired session.  Reading the ServiceInstance stays allowed.
func notAuthenticated(ctx *simulator.Context, specs []types.PropertyFilterSpec) *soap.Fault {
	if ctx.Session != nil {
		return nil
	}
	for _, spec := range specs {
		for _, o := range spec.ObjectSet {
			if o.Obj.Type != "ServiceInstance" {
				return simulator.Fault("The session is not authenticated.", &types.NotAuthenticated{
					NoPermission: types.NoPermission{Object: o.Obj, PrivilegeId: "System.View"},
				})
			}
		}
	}
	return nil
}

func (pc *pagingCollector) RetrieveProperties(ctx *simulator.Context, req *types.RetrieveProperties) soap.HasFault {
	if f := notAuthenticated(ctx, req.SpecSet); f != nil {
		return &methods.RetrievePropertiesBody{Fault_: f}
	}
	return pc.PropertyCollector.RetrieveProperties(ctx, req)
}

func (pc *pagingCollector) RetrievePropertiesEx(ctx *simulator.Context, req *types.RetrievePropertiesEx) soap.HasFault {
	if f := notAuthenticated(ctx, req.SpecSet); f != nil {
		return &methods.RetrievePropertiesExBody{Fault_: f}
	}
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, req)
	body, ok := res.(*methods.RetrievePropertiesExBody)
	if !ok || body.Fault_ != nil || body.Res == nil || body.Res.Returnval == nil {
		return res
	}
	body.Res.Returnval = page(ctxSession(ctx), body.Res.Returnval.Objects, int(req.Options.MaxObjects))
	return body
}

func takePage(ctx *simulator.Context, token string) (*pagedResult, bool) {
	pages.Lock()
	defer pages.Unlock()
	p, ok := pages.m[token]
	if !ok || p.session != ctxSession(ctx) {
		return nil, false
	}
	delete(pages.m, token)
	return p, true
}

func (pc *pagingCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, req *types.ContinueRetrievePropertiesEx) soap.HasFault {
	body := &methods.ContinueRetrievePropertiesExBody{}
	p, ok := takePage(ctx, req.Token)
	if !ok {
		body.Fault_ = simulator.Fault("A specified parameter was not correct: token", &types.InvalidArgument{InvalidProperty: "token"})
		return body
	}
	body.Res = &types.ContinueRetrievePropertiesExResponse{Returnval: *page(p.session, p.objects, p.size)}
	return body
}

func (pc *pagingCollector) CancelRetrievePropertiesEx(ctx *simulator.Context, req *types.CancelRetrievePropertiesEx) soap.HasFault {
	body := &methods.CancelRetrievePropertiesExBody{}
	if _, ok := takePage(ctx, req.Token); !ok {
		body.Fault_ = simulator.Fault("A specified parameter was not correct: token", &types.InvalidArgument{InvalidProperty: "token"})
		return body
	}
	body.Res = &types.CancelRetrievePropertiesExResponse{}
	return body
}

// CreatePropertyCollector: secondary collectors get paging too.
func (pc *pagingCollector) CreatePropertyCollector(ctx *simulator.Context, req *types.CreatePropertyCollector) soap.HasFault {
	cpc := &pagingCollector{}
	cpc.Self.Type = "PropertyCollector"
	return &methods.CreatePropertyCollectorBody{
		Res: &types.CreatePropertyCollectorResponse{Returnval: ctx.Session.Put(cpc).Reference()},
	}
}

func installPagingCollector(ref types.ManagedObjectReference) {
	pc := &pagingCollector{}
	pc.Self = ref
	simulator.Map.Put(pc)
}

// ---------------------------------------------------------------------------
// Inventory.

type vmDef struct {
	dc, folder, name string
	bios, instance   string
	role             string // "", "questioned", "slow"
}

type inventoryEntry struct {
	Name         string `json:"name"`
	Moref        string `json:"moref"`
	Path         string `json:"path"`
	InstanceUUID string `json:"instance_uuid"`
	BiosUUID     string `json:"bios_uuid"`
	Datacenter   string `json:"datacenter"`
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func buildInventory(ctx context.Context, c *vim25.Client, esx bool) error {
	sharedBios := randomUUID()
	var defs []vmDef
	dc0 := "DC0"
	if esx {
		dc0 = "ha-datacenter"
	}
	for _, n := range []string{"node1", "node10", "web server 01", "web%2f01", "ünïcødé-vm", "a<b>&\"c'", "dup"} {
		defs = append(defs, vmDef{dc: dc0, name: n})
	}
	if !esx {
		defs = append(defs, vmDef{dc: dc0, folder: "sub", name: "dup"})
	}
	defs = append(defs,
		vmDef{dc: dc0, name: "clone-a", bios: sharedBios},
		vmDef{dc: dc0, name: "clone-b", bios: sharedBios},
		vmDef{dc: dc0, name: "questioned", role: "questioned"},
		vmDef{dc: dc0, name: "slow", role: "slow"},
	)
	if !esx {
		defs = append(defs, vmDef{dc: "DC1", name: "node1"}, vmDef{dc: "DC1", name: "dc1only"})
	}

	finder := find.NewFinder(c, false)
	subFolders := map[string]*object.Folder{}
	for _, d := range defs {
		dc, err := finder.Datacenter(ctx, d.dc)
		if err != nil {
			return fmt.Errorf("datacenter %s: %w", d.dc, err)
		}
		finder.SetDatacenter(dc)
		folders, err := dc.Folders(ctx)
		if err != nil {
			return err
		}
		folder := folders.VmFolder
		if d.folder != "" {
			key := d.dc + "/" + d.folder
			if subFolders[key] == nil {
				sub, err := folder.CreateFolder(ctx, d.folder)
				if err != nil {
					return fmt.Errorf("folder %s: %w", key, err)
				}
				subFolders[key] = sub
			}
			folder = subFolders[key]
		}
		hosts, err := finder.HostSystemList(ctx, "*")
		if err != nil || len(hosts) == 0 {
			return fmt.Errorf("hosts in %s: %v", d.dc, err)
		}
		host := hosts[0]
		pool, err := host.ResourcePool(ctx)
		if err != nil {
			return err
		}
		if d.bios == "" {
			d.bios = randomUUID()
		}
		if d.instance == "" {
			d.instance = randomUUID()
		}
		spec := types.VirtualMachineConfigSpec{
			Name:         d.name,
			GuestId:      string(types.VirtualMachineGuestOsIdentifierOtherGuest),
			Uuid:         d.bios,
			InstanceUuid: d.instance,
			NumCPUs:      1,
			MemoryMB:     32,
			Files:        &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		}
		task, err := folder.CreateVM(ctx, spec, pool, host)
		if err != nil {
			return fmt.Errorf("create %q: %w", d.name, err)
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return fmt.Errorf("create %q: %w", d.name, err)
		}
		ref := info.Result.(types.ManagedObjectReference)
		ptask, err := object.NewVirtualMachine(c, ref).PowerOn(ctx)
		if err == nil {
			err = ptask.Wait(ctx)
		}
		if err != nil {
			return fmt.Errorf("power on %q: %w", d.name, err)
		}
		switch d.role {
		case "questioned":
			state.questioned[ref] = "moved-or-copied"
		case "slow":
			state.slowVMs[ref] = true
		}
	}
	return nil
}

func inventoryEntries() []inventoryEntry {
	var out []inventoryEntry
	for _, vm := range allVMs() {
		e := inventoryEntry{Moref: vm.Self.Value, Path: inventoryPath(vm)}
		withLock(vm, func() {
			e.Name = vm.Name
			if vm.Config != nil {
				e.InstanceUUID = vm.Config.InstanceUuid
				e.BiosUUID = vm.Config.Uuid
			}
		})
		if dc := datacenterOf(vm); dc != nil {
			e.Datacenter = entityName(dc)
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Datacenter != out[j].Datacenter {
			return out[i].Datacenter < out[j].Datacenter
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// ---------------------------------------------------------------------------
// Control endpoint (plain HTTP, separate listener).

type vmStatus struct {
	Name           string `json:"name"`
	Moref          string `json:"moref"`
	Power          string `json:"power"`
	Connection     string `json:"connection"`
	Template       bool   `json:"template"`
	Question       bool   `json:"question"`
	QuestionID     string `json:"question_id,omitempty"`
	BiosUUID       string `json:"bios_uuid"`
	InstanceUUID   string `json:"instance_uuid"`
	Host           string `json:"host"`
	HostConnection string `json:"host_connection"`
	Datacenter     string `json:"datacenter"`
	Path           string `json:"path"`
	guestBootStatus
}

func statusOf(vm *simulator.VirtualMachine) vmStatus {
	s := vmStatus{Moref: vm.Self.Value, Path: inventoryPath(vm)}
	var host *types.ManagedObjectReference
	withLock(vm, func() {
		s.Name = vm.Name
		s.Power = string(vm.Runtime.PowerState)
		s.Connection = string(vm.Runtime.ConnectionState)
		if q := vm.Runtime.Question; q != nil {
			s.Question = true
			s.QuestionID = q.Id
		}
		if vm.Config != nil {
			s.Template = vm.Config.Template
			s.BiosUUID = vm.Config.Uuid
			s.InstanceUUID = vm.Config.InstanceUuid
		}
		s.guestBootStatus = guestBootOf(vm)
		if vm.Runtime.Host != nil {
			ref := *vm.Runtime.Host
			host = &ref
		}
	})
	if host != nil {
		s.Host = host.Value
		if h, ok := simulator.Map.Get(*host).(*simulator.HostSystem); ok {
			withLock(h, func() { s.HostConnection = string(h.Runtime.ConnectionState) })
		}
	}
	if dc := datacenterOf(vm); dc != nil {
		s.Datacenter = entityName(dc)
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/sessions", func(w http.ResponseWriter, r *http.Request) {
		state.mu.Lock()
		v := map[string]int{"logins": state.logins, "logouts": state.logouts, "active": len(state.sessions)}
		state.mu.Unlock()
		writeJSON(w, http.StatusOK, v)
	})
	// POST /sessions/terminate: end every session (as an administrator's
	// TerminateSession would) so tests can exercise re-login on
	// NotAuthenticated.  Not counted as logouts.
	mux.HandleFunc("/sessions/terminate", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			jsonError(w, http.StatusMethodNotAllowed, "POST only")
			return
		}
		state.mu.Lock()
		keys := make([]string, 0, len(state.sessions))
		for k := range state.sessions {
			keys = append(keys, k)
		}
		state.sessions = map[string]string{}
		state.mu.Unlock()
		terminated := 0
		for _, k := range keys {
			_, err := methods.TerminateSession(context.Background(), state.client, &types.TerminateSession{
				This:      *state.client.ServiceContent.SessionManager,
				SessionId: []string{k},
			})
			if err == nil {
				terminated++
			}
		}
		writeJSON(w, http.StatusOK, map[string]int{"terminated": terminated})
	})
	mux.HandleFunc("/calls", func(w http.ResponseWriter, r *http.Request) {
		state.mu.Lock()
		v := make(map[string]int, len(state.calls))
		for k, n := range state.calls {
			v[k] = n
		}
		state.mu.Unlock()
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("/inventory", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, inventoryEntries())
	})
	mux.HandleFunc("/vm", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			jsonError(w, http.StatusMethodNotAllowed, "GET only")
			return
		}
		q := r.URL.Query()
		list := []vmStatus{}
		for _, vm := range allVMs() {
			s := statusOf(vm)
			if q.Has("name") && s.Name != q.Get("name") {
				continue
			}
			if q.Has("dc") && s.Datacenter != q.Get("dc") {
				continue
			}
			if q.Has("moref") && s.Moref != q.Get("moref") {
				continue
			}
			list = append(list, s)
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("/vm/power", func(w http.ResponseWriter, r *http.Request) {
		vm, ok := controlVM(w, r)
		if !ok {
			return
		}
		ps := types.VirtualMachinePowerState(r.URL.Query().Get("state"))
		switch ps {
		case types.VirtualMachinePowerStatePoweredOn, types.VirtualMachinePowerStatePoweredOff, types.VirtualMachinePowerStateSuspended:
		default:
			jsonError(w, http.StatusBadRequest, "state must be poweredOn, poweredOff or suspended")
			return
		}
		var boot interface{}
		if ps == types.VirtualMachinePowerStatePoweredOn {
			boot = time.Now()
		}
		withLock(vm, func() {
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "runtime.powerState", Val: ps},
				{Name: "summary.runtime.powerState", Val: ps},
				{Name: "runtime.bootTime", Val: boot},
				{Name: "summary.runtime.bootTime", Val: boot},
			})
		})
		writeJSON(w, http.StatusOK, statusOf(vm))
	})
	// POST /vm/connection?moref=vm-1&state=S: runtime.connectionState as
	// vCenter reports it for a VM whose host is lost (disconnected), that is
	// unregistered on its host (orphaned), whose files are unreachable
	// (inaccessible) or whose configuration is unreadable (invalid).
	mux.HandleFunc("/vm/connection", func(w http.ResponseWriter, r *http.Request) {
		vm, ok := controlVM(w, r)
		if !ok {
			return
		}
		cs := types.VirtualMachineConnectionState(r.URL.Query().Get("state"))
		switch cs {
		case types.VirtualMachineConnectionStateConnected, types.VirtualMachineConnectionStateDisconnected,
			types.VirtualMachineConnectionStateOrphaned, types.VirtualMachineConnectionStateInaccessible,
			types.VirtualMachineConnectionStateInvalid:
		default:
			jsonError(w, http.StatusBadRequest, "state must be connected, disconnected, orphaned, inaccessible or invalid")
			return
		}
		withLock(vm, func() {
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "runtime.connectionState", Val: cs},
				{Name: "summary.runtime.connectionState", Val: cs},
			})
		})
		writeJSON(w, http.StatusOK, statusOf(vm))
	})
	// POST /host/connection?moref=host-1&state=connected|disconnected|notResponding
	mux.HandleFunc("/host/connection", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			jsonError(w, http.StatusMethodNotAllowed, "POST only")
			return
		}
		ref := types.ManagedObjectReference{Type: "HostSystem", Value: r.URL.Query().Get("moref")}
		host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
		if !ok {
			jsonError(w, http.StatusNotFound, "no such host: "+ref.Value)
			return
		}
		cs := types.HostSystemConnectionState(r.URL.Query().Get("state"))
		switch cs {
		case types.HostSystemConnectionStateConnected, types.HostSystemConnectionStateDisconnected,
			types.HostSystemConnectionStateNotResponding:
		default:
			jsonError(w, http.StatusBadRequest, "state must be connected, disconnected or notResponding")
			return
		}
		withLock(host, func() {
			simulator.Map.Update(host, []types.PropertyChange{
				{Name: "runtime.connectionState", Val: cs},
				{Name: "summary.runtime.connectionState", Val: cs},
			})
		})
		writeJSON(w, http.StatusOK, map[string]string{"moref": ref.Value, "connection": string(cs)})
	})
	// POST /vm/template?moref=vm-1&template=true|false: config.template.
	mux.HandleFunc("/vm/template", func(w http.ResponseWriter, r *http.Request) {
		vm, ok := controlVM(w, r)
		if !ok {
			return
		}
		template, err := strconv.ParseBool(r.URL.Query().Get("template"))
		if err != nil {
			jsonError(w, http.StatusBadRequest, "template must be true or false")
			return
		}
		withLock(vm, func() {
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "config.template", Val: template},
				{Name: "summary.config.template", Val: template},
			})
		})
		writeJSON(w, http.StatusOK, statusOf(vm))
	})
	// POST /vm/question-kind?moref=vm-1&kind=K: the question the VM's next
	// PowerOnVM_Task raises (a key of questionKinds), or none.
	mux.HandleFunc("/vm/question-kind", func(w http.ResponseWriter, r *http.Request) {
		vm, ok := controlVM(w, r)
		if !ok {
			return
		}
		kind := r.URL.Query().Get("kind")
		if _, known := questionKinds[kind]; !known && kind != "none" {
			jsonError(w, http.StatusBadRequest, "unknown question kind "+kind)
			return
		}
		state.mu.Lock()
		if kind == "none" {
			delete(state.questioned, vm.Self)
		} else {
			state.questioned[vm.Self] = kind
		}
		state.mu.Unlock()
		writeJSON(w, http.StatusOK, statusOf(vm))
	})
	mux.HandleFunc("/vm/tools", controlTools)
	// GET /answers: every AnswerVM the wrapper accepted, in order.
	mux.HandleFunc("/answers", func(w http.ResponseWriter, r *http.Request) {
		state.mu.Lock()
		list := append([]answerRecord{}, state.answers...)
		state.mu.Unlock()
		writeJSON(w, http.StatusOK, list)
	})
	return mux
}

// controlVM is the VM a POST to the control endpoint names (?moref=vm-N),
// or an error answer.
func controlVM(w http.ResponseWriter, r *http.Request) (*simulator.VirtualMachine, bool) {
	if r.Method != http.MethodPost {
		jsonError(w, http.StatusMethodNotAllowed, "POST only")
		return nil, false
	}
	moref := r.URL.Query().Get("moref")
	vm := lookupVM(types.ManagedObjectReference{Type: "VirtualMachine", Value: moref})
	if vm == nil {
		jsonError(w, http.StatusNotFound, "no such VM: "+moref)
		return nil, false
	}
	return vm, true
}

// ---------------------------------------------------------------------------
// TLS material.

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

// newKey makes a key of keyType: "ecdsa" (P-256) or "rsa2048", the two
// kinds vCenter's own CA (VMCA) and administrators' CAs commonly issue; the
// benchmark compares what each costs a client's handshake.
func newKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "ecdsa":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unknown key type %q (rsa2048 or ecdsa)", keyType)
}

// makeTLS creates a self-signed CA and a server certificate signed by it,
// both with keys of keyType, and writes DIR/ca.pem and
// DIR/server-fingerprint.
func makeTLS(dir, keyType string) (*tls.Config, error) {
	now := time.Now()
	caKey, err := newKey(keyType)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "vcsim test CA " + newToken()[:8], Organization: []string{"fence-agents cts"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := newKey(keyType)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"fence-agents cts"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(29 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := writeFileAtomic(filepath.Join(dir, "ca.pem"), caPEM, 0o644); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	if err := writeFileAtomic(filepath.Join(dir, "server-fingerprint"), []byte(strings.Join(hexes, ":")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{
			Certificate: [][]byte{der},
			PrivateKey:  key,
		}},
	}, nil
}

// ---------------------------------------------------------------------------

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address for the SOAP (https) listener")
	stateDir := flag.String("state-dir", "", "directory for ready.json, inventory.json, ca.pem, ... (required)")
	plain := flag.Bool("plain-http", false, "serve plain HTTP instead of HTTPS")
	user := flag.String("user", "fenceuser", "user allowed to log in")
	pass := flag.String("pass", "s3cret pass", "password of -user and of the \"readonly\" user")
	vcenter := flag.Bool("vcenter", false, "model a vCenter with datacenters DC0 and DC1 (default)")
	esx := flag.Bool("esx", false, "model a standalone ESXi host")
	slow := flag.Int("slow-seconds", 8, "seconds the power tasks of the VM \"slow\" stay running")
	control := flag.String("control", "127.0.0.1:0", "address for the plain-HTTP control endpoint")
	trace := flag.Bool("trace", false, "log SOAP traffic to stderr")
	extraVMs := flag.Int("extra-vms", 0, "add this many VMs at start (rest.go)")
	keyType := flag.String("key-type", "ecdsa", "key of the HTTPS certificate and its CA: ecdsa (P-256) or rsa2048")
	flag.Parse()

	log.SetPrefix("vcsim: ")
	if *stateDir == "" {
		log.Fatal("-state-dir is required")
	}
	if *vcenter && *esx {
		log.Fatal("-vcenter and -esx are mutually exclusive")
	}
	if flag.NArg() != 0 {
		log.Fatalf("unexpected arguments: %v", flag.Args())
	}
	if *keyType != "ecdsa" && *keyType != "rsa2048" {
		log.Fatalf("-key-type %q: rsa2048 or ecdsa", *keyType)
	}
	if err := os.MkdirAll(*stateDir, 0o755); err != nil {
		log.Fatal(err)
	}
	// The simulator keeps datastore contents in temporary directories;
	// put them under the state dir so they go away with it.
	dsDir := datastoreRoot(*stateDir, *extraVMs) // rest.go: on /dev/shm with -extra-vms
	if err := os.MkdirAll(dsDir, 0o755); err != nil {
		log.Fatal(err)
	}
	os.Setenv("TMPDIR", dsDir)
	_ = os.Remove(filepath.Join(*stateDir, "ready.json"))

	state.user, state.pass = *user, *pass
	state.slow = time.Duration(*slow) * time.Second
	if state.slow <= 0 {
		state.slow = time.Millisecond
	}
	simulator.Trace = *trace

	var model *simulator.Model
	if *esx {
		model = simulator.ESX()
	} else {
		model = simulator.VPX()
		model.Datacenter = 2
	}
	if err := model.Create(); err != nil {
		log.Fatalf("creating model: %v", err)
	}
	defer model.Remove()

	ctx := context.Background()
	client, err := vim25.NewClient(ctx, model.Service) // in-process, no HTTP
	if err != nil {
		log.Fatalf("in-process client: %v", err)
	}
	state.client = client
	installPagingCollector(client.ServiceContent.PropertyCollector)
	if err := buildInventory(ctx, client, *esx); err != nil {
		log.Fatalf("building inventory: %v", err)
	}
	if err := addExtraVMs(ctx, client, *extraVMs); err != nil {
		log.Fatalf("extra VMs: %v", err)
	}

	// Listeners.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}
	cln, err := net.Listen("tcp", *control)
	if err != nil {
		log.Fatalf("listen %s: %v", *control, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	hostPort := net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port))
	scheme := "https"
	if *plain {
		scheme = "http"
	}
	sdkURL := &url.URL{Scheme: scheme, Host: hostPort, Path: vim25.Path}

	// Set up the simulator's HTTP handlers ourselves (instead of
	// Service.NewServer, which opens its own listener we could not wrap).
	svc := model.Service
	svc.Listen = &url.URL{Scheme: scheme, Host: hostPort, Path: vim25.Path} // no User: our wrapper checks credentials
	svc.RegisterSDK(simulator.Map)
	svc.ServeMux.HandleFunc(vim25.Path+"/vimServiceVersions.xml", svc.ServiceVersions)
	svc.ServeMux.HandleFunc("/folder/", svc.ServeDatastore)
	svc.ServeMux.HandleFunc("/about", svc.About)
	registerREST(svc.ServeMux, !*esx) // the vSphere Automation API, rest.go
	sm := simulator.Map.SessionManager()
	sm.ServiceHostName = hostPort
	for _, s := range simulator.Map.OptionManager().Setting {
		if o := s.GetOptionValue(); o.Key == "vcsim.server.url" {
			o.Value = sdkURL.String()
		}
	}

	var tlsConfig *tls.Config
	if !*plain {
		tlsConfig, err = makeTLS(*stateDir, *keyType)
		if err != nil {
			log.Fatalf("TLS setup: %v", err)
		}
		// Required by SessionManager.LoginExtensionByCertificate.
		tlsConfig.ClientAuth = tls.RequestClientCert
		leaf := tlsConfig.Certificates[0].Certificate[0]
		sm.TLSCert = func() string { return base64.StdEncoding.EncodeToString(leaf) }
		ln = tls.NewListener(ln, tlsConfig)
	}

	soapServer := &http.Server{Handler: &frontEnd{next: svc.ServeMux}, ErrorLog: log.Default()}
	controlServer := &http.Server{Handler: withFaultControl(withRESTControl(controlHandler()))}
	go func() {
		if err := soapServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("soap server: %v", err)
		}
	}()
	go func() {
		if err := controlServer.Serve(cln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("control server: %v", err)
		}
	}()

	inv, _ := json.MarshalIndent(inventoryEntries(), "", "  ")
	if err := writeFileAtomic(filepath.Join(*stateDir, "inventory.json"), append(inv, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	ready := struct {
		URL     string `json:"url"`
		Port    int    `json:"port"`
		PID     int    `json:"pid"`
		Control string `json:"control"`
		Mode    string `json:"mode"`
	}{sdkURL.String(), addr.Port, os.Getpid(), cln.Addr().String(), "vcenter"}
	if *esx {
		ready.Mode = "esx"
	}
	line, _ := json.Marshal(ready)
	readyPath := filepath.Join(*stateDir, "ready.json")
	if err := writeFileAtomic(readyPath, append(line, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(line))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	s := <-sig
	log.Printf("received %v, shutting down", s)
	_ = os.Remove(readyPath)
	_ = soapServer.Close()
	_ = controlServer.Close()
	model.Remove()
	_ = os.RemoveAll(dsDir)
}
