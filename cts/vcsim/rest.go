// The vSphere Automation API (REST) of a vCenter, served by this wrapper on
// the same listener as /sdk (HTTPS with the wrapper's CA, or plain HTTP with
// -plain-http), in vCenter mode only: an ESXi host serves no /rest/vcenter
// or /api/vcenter, so with -esx both prefixes answer 404.
//
// This is a hand-written emulation, written because no real peer can be had:
// Debian packages no vCenter, and govmomi 0.24's own vapi simulator
// (vapi/simulator) has sessions, tags and content libraries but no VM list
// and no power operations; none of its code is used here.  Everything
// below reads and changes the simulator's inventory (simulator.Map, under its
// locks as main.go does), so a power change made over REST is what SOAP's
// PropertyCollector reports next, and the other way round.
//
// Two dialects of one API, sharing one pool of sessions (a token from either
// login works on both, as on vCenter):
//
//   - /rest (vSphere 6.5 to 7.0, deprecated in 7.0 U2): results wrapped in
//     {"value": ...}, list filters prefixed "filter." and given repeated
//     (filter.names=a&filter.names=b) or indexed (filter.names.1=a&
//     filter.names.2=b), errors as
//     {"type":"com.vmware.vapi.std.errors.not_found",
//     "value":{"error_type":"NOT_FOUND","messages":[...]}}.
//   - /api (vSphere 7.0 U2 and later): bare results, unprefixed filters given
//     repeated or comma-separated (names=a,b; a comma inside a name is sent
//     percent-encoded, %2C, and is not a separator), errors as
//     {"error_type":"NOT_FOUND","messages":[...]}.
//
// Each message is {"args":[...],"default_message":"...","id":"..."}.
//
// Endpoints (S: needs a session, header vmware-api-session-id or the cookie
// of that name; without one, or with an unknown or expired one, 401
// UNAUTHENTICATED):
//
//	POST   /rest/com/vmware/cis/session        HTTP Basic -> 200 {"value":"<token>"}
//	POST   /rest/com/vmware/cis/session?~action=get     S -> 200 {"value":{"user":..,"created_time":..,"last_accessed_time":..}}
//	DELETE /rest/com/vmware/cis/session        S -> 200, no body
//	POST   /api/session                        HTTP Basic -> 201 "<token>"
//	GET    /api/session                        S -> 200 {"user":..,"created_time":..,"last_accessed_time":..}
//	DELETE /api/session                        S -> 204
//	GET    /rest/vcenter/vm   /api/vcenter/vm  S -> [{"vm":"vm-N","name":..,"power_state":..,"cpu_count":..,"memory_size_MiB":..}]
//	       filters: vms names folders datacenters hosts clusters resource_pools power_states
//	       more matches than 1,000 (/rest) or 4,000 (/api): 400 UNABLE_TO_ALLOCATE_RESOURCE
//	GET    /rest/vcenter/vm/{vm}   /api/vcenter/vm/{vm}              S -> name, power_state, identity, cpu, memory, guest_OS
//	GET    /rest/vcenter/vm/{vm}/power   /api/vcenter/vm/{vm}/power  S -> {"state":"POWERED_ON"|"POWERED_OFF"|"SUSPENDED"[,"clean_power_off":true]}
//	POST   /rest/vcenter/vm/{vm}/power/{start|stop|reset|suspend}    S -> 200, no body
//	POST   /api/vcenter/vm/{vm}/power?action={start|stop|reset|suspend}  S -> 204
//	GET    /rest/vcenter/host   /api/vcenter/host  S -> [{"host":"host-N","name":..,"connection_state":..[,"power_state":..]}]
//	       filters: hosts names folders datacenters clusters connection_states standalone; cap 2,500
//	GET    /rest/vcenter/folder   /api/vcenter/folder  S -> [{"folder":"folder-N","name":..,"type":"VIRTUAL_MACHINE"|...}]
//	       filters: folders names type parent_folders datacenters; cap 1,000
//	GET    /rest/vcenter/datacenter   /api/vcenter/datacenter  S -> [{"datacenter":"datacenter-N","name":..}]
//	       filters: datacenters names folders; cap 1,000
//
// Errors (status, error_type, message id):
//
//	401 UNAUTHENTICATED  com.vmware.vapi.endpoint.method.authentication.required  no, bad or expired session; bad login
//	403 UNAUTHORIZED     vapi.security.authorization.invalid       power change by the user "readonly"
//	404 NOT_FOUND        com.vmware.api.vcenter.vm.not_found       unknown VM id
//	404 NOT_FOUND        com.vmware.vapi.rest.operationsForUrlNotFound (/rest), com.vmware.vapi.rest.httpNotFound (/api)  unknown URL
//	405                  (no body, Allow header)                    known URL, wrong HTTP method
//	400 ALREADY_IN_DESIRED_STATE  com.vmware.api.vcenter.vm.power.already_powered_on|_off  start when on, stop when off
//	400 NOT_ALLOWED_IN_CURRENT_STATE  vmsg.InvalidPowerState.summary  reset when not on, suspend when off
//	400 RESOURCE_BUSY    vmsg.TaskInProgress.summary  a power task of the VM is still running ("slow", "questioned")
//	400 INVALID_ARGUMENT unknown query parameter, bad enum or boolean value
//	400 UNABLE_TO_ALLOCATE_RESOURCE  com.vmware.api.vcenter.{vm,host,folder,datacenter}.too_many_matches
//	503 SERVICE_UNAVAILABLE  com.vmware.vapi.endpoint.failedToLoginMaxUserSessionCountReached  login over the per-user limit
//	503 SERVICE_UNAVAILABLE  com.vmware.api.vcenter.vm.power.host_not_connected  power change of a VM
//	                     whose host (or itself) is not connected (status, id and text this simulator's)
//
// Power operations are performed by the simulator itself (PowerOnVM_Task,
// PowerOffVM_Task, ResetVM_Task, SuspendVM_Task through the in-process
// client, like main.go's simulatorPowerOp) and return when done, as the REST
// API does.  On the VM named "slow", start and stop run the same slow task
// as SOAP (-slow-seconds) and the REST call waits for it; SOAP meanwhile
// sees the task running.  The VM named "questioned" raises no question over
// REST (the question belongs to SOAP's asynchronous task).
//
// Control endpoint additions (plain HTTP, -control listener):
//
//	GET  /rest/sessions           {"logins":N,"logouts":M,"active":K,"refused":R,"limit":L}
//	                              REST/API sessions only; SOAP's stay under /sessions
//	POST /rest/sessions/expire    ends every REST session, as the idle timeout
//	                              would (not counted as logouts): {"expired":N}
//	POST /rest/sessions/limit?max=N  per-user session limit (vCenter: 550); logins
//	                              beyond it get 503: {"limit":N}
//	POST /rest/api?enabled=false  every /api URL answers a bare 404 (still counted
//	                              under /rest/calls), as on a vCenter before 7.0 U2;
//	                              enabled=true serves /api again
//	POST /rest/sdk?enabled=false  /sdk (vim25) answers a bare 404, as behind a
//	                              proxy that forwards only the Automation API
//	POST /rest/soap-login?user=U&allowed=false  vim25 Login of U is refused
//	                              (InvalidLogin) while its REST login works
//	POST /rest/delay?call=KEY&count=N&ms=D  the next N calls of KEY ("POST
//	                              /api/session", as /rest/calls names it) are held
//	                              D ms, then served: a vCenter that answers late
//	GET  /rest/calls              {"GET /rest/vcenter/vm":3,...} per method and route
//	GET  /rest/caps               {"vm":{"rest":1000,"api":4000},"host":...}
//	POST /rest/caps?resource=vm|host|folder|datacenter&rest=N&api=M  lowers (or
//	                              raises) a cap, to reach it without thousands
//	                              of objects
//
// The connection states set through main.go's POST /host/connection and
// POST /vm/connection are the simulator's own: vim25 reports both, the
// Automation API a host's only (connection_state) and no VM's, as on a real
// vCenter; a power call on a VM or host not connected is refused (503 below).
//
// -extra-vms N adds N VMs named extra-00001... at start, spread round-robin
// over every host of every datacenter and, per datacenter, over folders
// extra-NN of at most 500 VMs, so that a listing per host or per folder stays
// under every cap while the whole inventory exceeds them.  Three of every
// four are powered on.  With -extra-vms the datastores' directories live on
// /dev/shm when it is writable (datastoreRoot): creating the VMs' files is
// what takes the time.
//
// Sources, cited where each shape is produced: the vSphere Automation REST
// API reference 6.5/6.7 (vdc-download.vmware.com .../operations/com/vmware/
// vcenter/vm.list-operation.html and its siblings, "REST 6.5 docs" below),
// the Broadcom vSphere Automation API reference for /api ("API docs"), the
// vSphere 8.0 Automation REST programming guide's table of HTTP codes per
// error type, error bodies captured from real vCenters in public issues, and
// VMware's own vAPI runtimes (vsphere-automation-sdk-python's rest_handler.py,
// vsphere-automation-sdk-go's message bundle).  Where no real sample of a
// message text was found, the text is this simulator's and says so.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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
	"github.com/vmware/govmomi/vim25/types"
)

const (
	restSessionHeader = "vmware-api-session-id"
	// vCenter's vAPI endpoint: "User session count is limited to 550"
	// (tanzu-cli #749, cluster-api-provider-vsphere #1818).
	defaultRESTSessionLimit = 550
)

// Caps on list results.  /rest VMs: "Returns information about at most 1000
// visible virtual machines" (REST 6.5 docs, vm.list; fence-agents #280, Red
// Hat solution 3718421).  /api VMs: "at most 4000" (API docs, List Vm).
// Hosts: "at most 2500" (7.0 docs, host.list).  Folders, datacenters: "at
// most 1000" (REST 6.5 docs, folder.list and datacenter.list).  vCenter 7.0's
// own /rest documents 4000 for VMs as well; 1000 is kept for /rest because
// that is the limit fence-agents' fence_vmware_rest was written against.
// The control endpoint can change them (POST /rest/caps) so that a test can
// reach a cap without thousands of objects; restSt.mu guards them.
var restCaps = map[string][2]int{ // resource -> {/rest cap, /api cap}
	"vm":         {1000, 4000},
	"host":       {2500, 2500},
	"folder":     {1000, 1000},
	"datacenter": {1000, 1000},
}

// ---------------------------------------------------------------------------
// Sessions and counters.

type restSession struct {
	user         string
	created      time.Time
	lastAccessed time.Time
}

type restState struct {
	mu       sync.Mutex
	sessions map[string]*restSession
	logins   int
	logouts  int
	refused  int // logins over the session limit
	limit    int
	calls    map[string]int
	enabled  bool // vCenter mode
	// noAPI: /api answers 404, as on a vCenter before 7.0 U2 (POST
	// /rest/api?enabled=false).
	noAPI bool
	// noSDK: /sdk answers 404, as behind a reverse proxy that forwards only
	// the Automation API (POST /rest/sdk?enabled=false).
	noSDK bool
	// soapRefused: users whose vim25 Login is refused while their REST
	// login works (POST /rest/soap-login?user=U&allowed=false), as when
	// vpxd's own session table is full (kops #2747) but the vAPI
	// endpoint's is not.
	soapRefused map[string]bool
	// delays: the next calls of a route held before they are served
	// (POST /rest/delay?call=KEY&count=N&ms=D, KEY as /rest/calls names
	// it), as a vCenter under load answers late, so that a test can act
	// while the call is under way.
	delays map[string]*restDelay
}

type restDelay struct {
	count int
	delay time.Duration
}

var restSt = &restState{
	sessions:    map[string]*restSession{},
	soapRefused: map[string]bool{},
	limit:       defaultRESTSessionLimit,
	calls:       map[string]int{},
	delays:      map[string]*restDelay{},
}

// ---------------------------------------------------------------------------
// Wire format.

type dialect int

const (
	dialectREST dialect = iota // /rest
	dialectAPI                 // /api
)

type vapiMessage struct {
	Args           []string `json:"args"`
	DefaultMessage string   `json:"default_message"`
	ID             string   `json:"id"`
}

func msg(id, text string, args ...string) vapiMessage {
	if args == nil {
		args = []string{}
	}
	return vapiMessage{Args: args, DefaultMessage: text, ID: id}
}

// vapiError is a vAPI standard error; errorType is the discriminator of the
// /api form ("NOT_FOUND"), its /rest "type" is derived from it
// ("com.vmware.vapi.std.errors.not_found").
type vapiError struct {
	status    int
	errorType string
	messages  []vapiMessage
	challenge string
}

// The status of each error type: vSphere 8.0 Automation REST programming
// guide, "vSphere Automation API Responses", and the per-operation error
// tables of the REST 6.5 docs (e.g. vm/power.stop: 400 already_in_desired_state,
// 404 not_found, 401 unauthenticated, 403 unauthorized, 503 service_unavailable).
func newError(status int, errorType string, messages ...vapiMessage) *vapiError {
	return &vapiError{status: status, errorType: errorType, messages: messages}
}

func writeJSONBody(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // names such as a<b>&"c' travel as written
	_ = enc.Encode(v)
}

// fail writes e in the dialect's shape.  /rest on vCenter 7.0 carries
// error_type inside value as well (vmware-openapi-generator #72:
// {"type":"com.vmware.vapi.std.errors.not_found","value":{"error_type":
// "NOT_FOUND","messages":[...]}}); /api is the bare error (API docs,
// Vapi Std Errors).
func (d dialect) fail(w http.ResponseWriter, e *vapiError) {
	body := map[string]interface{}{
		"error_type": e.errorType,
		"messages":   e.messages,
	}
	if e.challenge != "" {
		body["challenge"] = e.challenge
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	if d == dialectREST {
		writeJSONBody(w, e.status, map[string]interface{}{
			"type":  "com.vmware.vapi.std.errors." + strings.ToLower(e.errorType),
			"value": body,
		})
		return
	}
	writeJSONBody(w, e.status, body)
}

// ok answers a successful call: /rest wraps a result in {"value": ...} with
// 200 (REST 6.5 docs, every operation: "HTTP Status Code: 200"); /api sends
// it bare with the operation's own status (201 for POST /api/session, 204
// for operations without a result, API docs).  A nil result has no body.
func (d dialect) ok(w http.ResponseWriter, apiStatus int, result interface{}) {
	if d == dialectREST {
		if result == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		writeJSONBody(w, http.StatusOK, map[string]interface{}{"value": result})
		return
	}
	if result == nil {
		w.WriteHeader(apiStatus)
		return
	}
	writeJSONBody(w, apiStatus, result)
}

// A real vCenter answers a missing or bad session, and a failed login, with
// this error (vcsa-health README: wrong password gives
// {"type":"com.vmware.vapi.std.errors.unauthenticated","value":{"messages":
// [{"args":[],"default_message":"Authentication required.","id":
// "com.vmware.vapi.endpoint.method.authentication.required"}]}}).  The
// challenge field exists since 7.0 (API docs, Unauthenticated); a real one
// also offers "SIGN realm=...,sts=..." for SSO tokens, which the simulator
// has no STS for.
func unauthenticated() *vapiError {
	e := newError(http.StatusUnauthorized, "UNAUTHENTICATED",
		msg("com.vmware.vapi.endpoint.method.authentication.required", "Authentication required."))
	e.challenge = `Basic realm="VAPI endpoint"`
	return e
}

// ---------------------------------------------------------------------------
// Routing.

type restCall struct {
	w       http.ResponseWriter
	r       *http.Request
	dialect dialect
	params  map[string]string
	user    string // after authentication
}

type restRoute struct {
	dialect  dialect
	pattern  []string // "{vm}" matches one segment
	methods  map[string]func(*restCall)
	needAuth map[string]bool
}

var restRoutes []*restRoute

func route(d dialect, pattern string, handlers map[string]func(*restCall), open ...string) {
	rt := &restRoute{
		dialect:  d,
		pattern:  strings.Split(strings.Trim(pattern, "/"), "/"),
		methods:  handlers,
		needAuth: map[string]bool{},
	}
	for m := range handlers {
		rt.needAuth[m] = true
	}
	for _, m := range open {
		rt.needAuth[m] = false
	}
	restRoutes = append(restRoutes, rt)
}

func init() {
	get := http.MethodGet
	post := http.MethodPost
	del := http.MethodDelete
	for _, d := range []dialect{dialectREST, dialectAPI} {
		p := "/rest"
		if d == dialectAPI {
			p = "/api"
		}
		route(d, p+"/vcenter/vm", map[string]func(*restCall){get: listVMs})
		route(d, p+"/vcenter/vm/{vm}", map[string]func(*restCall){get: getVM})
		route(d, p+"/vcenter/host", map[string]func(*restCall){get: listHosts})
		route(d, p+"/vcenter/folder", map[string]func(*restCall){get: listFolders})
		route(d, p+"/vcenter/datacenter", map[string]func(*restCall){get: listDatacenters})
	}
	// The session's POST without ~action is the login, which needs no
	// session; ~action=get|delete need one and are checked in restSessionPost.
	route(dialectREST, "/rest/com/vmware/cis/session",
		map[string]func(*restCall){post: restSessionPost, del: restLogout}, post)
	route(dialectREST, "/rest/vcenter/vm/{vm}/power", map[string]func(*restCall){get: getPower})
	for _, op := range []string{"start", "stop", "reset", "suspend"} {
		route(dialectREST, "/rest/vcenter/vm/{vm}/power/"+op, map[string]func(*restCall){post: postPower})
	}
	route(dialectAPI, "/api/session",
		map[string]func(*restCall){post: apiLogin, get: sessionInfo, del: restLogout}, post)
	// /api power changes are POSTs on the power resource itself.
	route(dialectAPI, "/api/vcenter/vm/{vm}/power", map[string]func(*restCall){get: getPower, post: postPower})
}

func (rt *restRoute) match(segments []string) (map[string]string, bool) {
	if len(segments) != len(rt.pattern) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range rt.pattern {
		if strings.HasPrefix(p, "{") {
			if segments[i] == "" {
				return nil, false
			}
			params[strings.Trim(p, "{}")] = segments[i]
		} else if p != segments[i] {
			return nil, false
		}
	}
	return params, true
}

// registerREST mounts /rest/ and /api/ on the simulator's mux (behind the
// wrapper's front end, so on the same listener and TLS as /sdk).
func registerREST(mux *http.ServeMux, vcenter bool) {
	restSt.enabled = vcenter
	h := http.HandlerFunc(serveREST)
	mux.Handle("/rest/", h)
	mux.Handle("/api/", h)
}

func serveREST(w http.ResponseWriter, r *http.Request) {
	d := dialectREST
	if strings.HasPrefix(r.URL.Path, "/api/") {
		d = dialectAPI
	}
	if !restSt.enabled {
		http.NotFound(w, r)
		return
	}
	segments := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var rt *restRoute
	var params map[string]string
	for _, candidate := range restRoutes {
		if p, ok := candidate.match(segments); ok && candidate.dialect == d {
			rt, params = candidate, p
			break
		}
	}
	// The URL is resolved before the session is checked: vCenter answers an
	// unknown URL with 404 even without a session, a known one with 401
	// (probe of a vCenter 9.1.1 quoted in a public repository's notes:
	// "/api/appliance/bogus-xyz/nothing returns 404
	// com.vmware.vapi.rest.httpNotFound" while known paths return 401).
	if rt == nil {
		unknownURL(w, d, r.URL.Path)
		return
	}
	handler, ok := rt.methods[r.Method]
	if !ok {
		// What a real vCenter answers to a known URL with another method
		// was not found in any public source; 405 with Allow is HTTP's
		// answer (RFC 9110, 15.5.6).
		allowed := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			allowed = append(allowed, m)
		}
		sort.Strings(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	key := r.Method + " /" + strings.Join(rt.pattern, "/")
	var hold time.Duration
	restSt.mu.Lock()
	restSt.calls[key]++
	noAPI := restSt.noAPI
	if d := restSt.delays[key]; d != nil && d.count > 0 {
		d.count--
		hold = d.delay
	}
	restSt.mu.Unlock()
	time.Sleep(hold)
	// A vCenter before 7.0 U2 has no /api endpoint at all; its reverse
	// proxy answers a bare 404 (what its body holds was not found in a
	// public source, so none is sent).  Counted above, so a test sees
	// that a client tried.
	if d == dialectAPI && noAPI {
		w.WriteHeader(http.StatusNotFound)
		return
	}

	c := &restCall{w: w, r: r, dialect: d, params: params}
	if rt.needAuth[r.Method] {
		user, ok := authenticate(r)
		if !ok {
			d.fail(w, unauthenticated())
			return
		}
		c.user = user
	}
	handler(c)
}

// unknownURL: /rest on vCenter 7.0.3 answers {"type":"com.vmware.vapi.std.
// errors.not_found","value":{"error_type":"NOT_FOUND","messages":[{"args":
// ["/com/vmware/..."],"default_message":"Unable to find operations for URL:
// /com/vmware/....","id":"com.vmware.vapi.rest.operationsForUrlNotFound"}]}}
// (vmware-openapi-generator #72); /api answers {"error_type":"NOT_FOUND",
// "messages":[{"args":[],"default_message":"Not found.","id":
// "com.vmware.vapi.rest.httpNotFound"}]} (Icinga vspheredb, VCenterRestApi).
func unknownURL(w http.ResponseWriter, d dialect, path string) {
	if d == dialectREST {
		p := strings.TrimPrefix(path, "/rest")
		d.fail(w, newError(http.StatusNotFound, "NOT_FOUND",
			msg("com.vmware.vapi.rest.operationsForUrlNotFound", "Unable to find operations for URL: "+p+".", p)))
		return
	}
	d.fail(w, newError(http.StatusNotFound, "NOT_FOUND", msg("com.vmware.vapi.rest.httpNotFound", "Not found.")))
}

// authenticate finds the request's session, if any, and notes its use.
func authenticate(r *http.Request) (string, bool) {
	token := sessionToken(r)
	if token == "" {
		return "", false
	}
	restSt.mu.Lock()
	defer restSt.mu.Unlock()
	s, ok := restSt.sessions[token]
	if !ok {
		return "", false
	}
	s.lastAccessed = time.Now()
	return s.user, true
}

// sessionToken: the header vmware-api-session-id, or the cookie of that
// name (REST 6.5 docs, cis session create: "clients are expected to include
// the session key"; govmomi vapi/simulator accepts either).
func sessionToken(r *http.Request) string {
	if t := r.Header.Get(restSessionHeader); t != "" {
		return t
	}
	if c, err := r.Cookie(restSessionHeader); err == nil {
		return c.Value
	}
	return ""
}

// ---------------------------------------------------------------------------
// Sessions.

// login checks HTTP Basic credentials against the wrapper's users (the same
// as SOAP's Login: -user and "readonly", both with -pass) and the per-user
// session limit, and opens a session.
func login(c *restCall) (string, *vapiError) {
	user, pass, ok := c.r.BasicAuth()
	if !ok || !((user == state.user || user == readonlyUser) && pass == state.pass && state.pass != "") {
		return "", unauthenticated()
	}
	restSt.mu.Lock()
	defer restSt.mu.Unlock()
	open := 0
	for _, s := range restSt.sessions {
		if s.user == user {
			open++
		}
	}
	if open >= restSt.limit {
		restSt.refused++
		// tanzu-cli #749: "default_message": "User session count is limited
		// to 550. Existing session count is 550 for user user@domain", "id":
		// "com.vmware.vapi.endpoint.failedToLoginMaxUserSessionCountReached",
		// HTTP 503 (cluster-api-provider-vsphere #1818).  The args are not
		// shown there; these are the three values of the text.
		return "", newError(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE",
			msg("com.vmware.vapi.endpoint.failedToLoginMaxUserSessionCountReached",
				fmt.Sprintf("User session count is limited to %d. Existing session count is %d for user %s",
					restSt.limit, open, user),
				strconv.Itoa(restSt.limit), strconv.Itoa(open), user))
	}
	token := newToken()
	now := time.Now()
	restSt.sessions[token] = &restSession{user: user, created: now, lastAccessed: now}
	restSt.logins++
	return token, nil
}

// POST /rest/com/vmware/cis/session: the login, or with ~action=get|delete
// the session's info or logout (vCloud Suite API reference, cis session:
// "POST /com/vmware/cis/session?~action=delete"; cluster-api-provider-vsphere
// #1818 shows POST ...?~action=get answered 401 without a session).
func restSessionPost(c *restCall) {
	switch action := c.r.URL.Query().Get("~action"); action {
	case "":
		token, err := login(c)
		if err != nil {
			c.dialect.fail(c.w, err)
			return
		}
		// The vAPI runtime also sets the session as a cookie unless the
		// client asks for header authentication only (govmomi
		// vapi/simulator, header vmware-use-header-authn; REST 6.5 docs,
		// cis session create).
		if !strings.EqualFold(c.r.Header.Get("vmware-use-header-authn"), "true") {
			http.SetCookie(c.w, &http.Cookie{Name: restSessionHeader, Value: token, Path: "/rest", HttpOnly: true})
		}
		// REST 6.5 docs, cis session create: 200 {"value": "secret string"}.
		c.dialect.ok(c.w, http.StatusOK, token)
	case "get", "delete":
		user, ok := authenticate(c.r)
		if !ok {
			c.dialect.fail(c.w, unauthenticated())
			return
		}
		c.user = user
		if action == "get" {
			sessionInfo(c)
		} else {
			restLogout(c)
		}
	default:
		c.dialect.fail(c.w, noSuchAction(action))
	}
}

// noSuchAction: an action the URL does not offer.  VMware's vAPI runtime
// (rest_handler.py): "No matching method available for the requested action
// '%s' on the URL", 404.
func noSuchAction(action string) *vapiError {
	return newError(http.StatusNotFound, "NOT_FOUND", msg("com.vmware.vapi.rest.httpNotFound",
		fmt.Sprintf("No matching method available for the requested action '%s' on the URL", action)))
}

// POST /api/session: API docs, Create Session: 201, "Newly created session
// token", a JSON string.
func apiLogin(c *restCall) {
	token, err := login(c)
	if err != nil {
		c.dialect.fail(c.w, err)
		return
	}
	c.dialect.ok(c.w, http.StatusCreated, token)
}

// DELETE: REST 6.5 docs, cis session delete: 200, no body; API docs, Delete
// Session: 204.
func restLogout(c *restCall) {
	token := sessionToken(c.r)
	restSt.mu.Lock()
	if _, ok := restSt.sessions[token]; ok {
		delete(restSt.sessions, token)
		restSt.logouts++
	}
	restSt.mu.Unlock()
	c.dialect.ok(c.w, http.StatusNoContent, nil)
}

// Session info: govmomi vapi/rest Session {"user","created_time",
// "last_accessed_time"} (API docs, Get Session).
func sessionInfo(c *restCall) {
	restSt.mu.Lock()
	s, ok := restSt.sessions[sessionToken(c.r)]
	var info map[string]string
	if ok {
		info = map[string]string{
			"user":               s.user,
			"created_time":       s.created.UTC().Format("2006-01-02T15:04:05.000Z"),
			"last_accessed_time": s.lastAccessed.UTC().Format("2006-01-02T15:04:05.000Z"),
		}
	}
	restSt.mu.Unlock()
	if !ok {
		c.dialect.fail(c.w, unauthenticated())
		return
	}
	c.dialect.ok(c.w, http.StatusOK, info)
}

// ---------------------------------------------------------------------------
// Filters.

type filterKind int

const (
	filterSet   filterKind = iota // set of strings; empty means any
	filterEnum                    // set of strings from a fixed list
	filterBool                    // one true/false
	filterOneOf                   // one string from a fixed list
)

type filterField struct {
	kind    filterKind
	allowed []string
}

type filters map[string][]string

func (f filters) has(field string) bool { return len(f[field]) > 0 }

// accepts: an unset or empty filter field matches everything (REST 6.5 docs,
// every filter_spec field: "If unset or empty, ... with any ... match").
func (f filters) accepts(field, value string) bool {
	vals := f[field]
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if v == value {
			return true
		}
	}
	return false
}

func badArgument(text, id string, args ...string) *vapiError {
	return newError(http.StatusBadRequest, "INVALID_ARGUMENT", msg(id, text, args...))
}

// parseFilters reads a list operation's filter spec from the query string.
// /rest: "filter.<field>" repeated, or "filter.<field>.<n>" (REST 6.5 docs:
// "?filter.names.1=string&filter.names.2=string"; fence-agents' own example
// "filter.names=node1&filter.names=node2", PR #330).  /api: "<field>"
// repeated, or one value with commas between names (API docs, List Vm query
// parameters "string of array").  Any other parameter is refused, as
// VMware's vAPI runtime does ("Unexpected parameter ... in JSON body",
// 400, rest_handler.py; message text from vsphere-automation-sdk-go's
// bundle, com.vmware.vapi.rest.unsupported_property).
func parseFilters(d dialect, rawQuery string, spec map[string]filterField) (filters, *vapiError) {
	out := filters{}
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue := pair, ""
		if i := strings.IndexByte(pair, '='); i >= 0 {
			rawKey, rawValue = pair[:i], pair[i+1:]
		}
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, badArgument("Unsupported property with name: "+rawKey+".", "com.vmware.vapi.rest.unsupported_property", rawKey)
		}
		field, ok := filterFieldName(d, key, spec)
		if !ok {
			return nil, badArgument("Unsupported property with name: "+key+".", "com.vmware.vapi.rest.unsupported_property", key)
		}
		parts := []string{rawValue}
		if d == dialectAPI && (spec[field].kind == filterSet || spec[field].kind == filterEnum) {
			parts = strings.Split(rawValue, ",")
		}
		for _, p := range parts {
			v, err := url.QueryUnescape(p)
			if err != nil {
				return nil, invalidParam(field, p)
			}
			out[field] = append(out[field], v)
		}
	}
	for field, vals := range out {
		f := spec[field]
		switch f.kind {
		case filterBool:
			if len(vals) != 1 || (!strings.EqualFold(vals[0], "true") && !strings.EqualFold(vals[0], "false")) {
				return nil, invalidParam(field, strings.Join(vals, ","))
			}
			out[field] = []string{strings.ToLower(vals[0])}
		case filterOneOf, filterEnum:
			if f.kind == filterOneOf && len(vals) != 1 {
				return nil, invalidParam(field, strings.Join(vals, ","))
			}
			for _, v := range vals {
				if !contains(f.allowed, v) {
					return nil, invalidParam(field, v)
				}
			}
		}
	}
	return out, nil
}

// filterFieldName maps a query key to its filter field, or reports it unknown.
func filterFieldName(d dialect, key string, spec map[string]filterField) (string, bool) {
	if d == dialectAPI {
		_, ok := spec[key]
		return key, ok
	}
	name := strings.TrimPrefix(key, "filter.")
	if name == key {
		return "", false
	}
	if _, ok := spec[name]; ok {
		return name, true
	}
	// Indexed form of a set field: filter.names.1, filter.names.2, ...
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", false
	}
	base, index := name[:i], name[i+1:]
	n, err := strconv.Atoi(index)
	f, ok := spec[base]
	if err != nil || n < 1 || !ok || (f.kind != filterSet && f.kind != filterEnum) {
		return "", false
	}
	return base, true
}

// invalidParam: an enum or boolean filter value the server does not know
// (REST 6.5 docs, vm.list: "400 invalid_argument if the
// vcenter.VM.filter_spec.power_states field contains a value that is not
// supported by the server"; text from vsphere-automation-sdk-go's bundle,
// vapi.bindings.input.param.invalid).
func invalidParam(field, value string) *vapiError {
	return badArgument(fmt.Sprintf("Invalid value for parameter '%s'", field), "vapi.bindings.input.param.invalid", field, value)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// tooMany: REST 6.5 docs, vm.list: "400 unable_to_allocate_resource if more
// than 1000 virtual machines match the vcenter.VM.filter_spec"; the message
// of a real vCenter (vsphere-automation-sdk-python #142):
// id='com.vmware.api.vcenter.vm.too_many_matches', default_message='Too many
// virtual machines. Add more filter criteria to reduce the number.',
// args=[].  The host, folder and datacenter texts follow the VM one (no real
// sample found).
func tooMany(resource, plural string) *vapiError {
	return newError(http.StatusBadRequest, "UNABLE_TO_ALLOCATE_RESOURCE",
		msg("com.vmware.api.vcenter."+resource+".too_many_matches",
			"Too many "+plural+". Add more filter criteria to reduce the number."))
}

func (c *restCall) capFor(resource string) int {
	restSt.mu.Lock()
	caps := restCaps[resource]
	restSt.mu.Unlock()
	if c.dialect == dialectAPI {
		return caps[1]
	}
	return caps[0]
}

// listAnswer sends a list result, or the cap's error when there are more.
func (c *restCall) listAnswer(resource, plural string, items []interface{}) {
	if len(items) > c.capFor(resource) {
		c.dialect.fail(c.w, tooMany(resource, plural))
		return
	}
	c.dialect.ok(c.w, http.StatusOK, items)
}

// ---------------------------------------------------------------------------
// Reading the simulator's inventory.

// Power states: REST 6.5 docs, vcenter vm power state enum POWERED_OFF,
// POWERED_ON, SUSPENDED.
var vapiPowerState = map[types.VirtualMachinePowerState]string{
	types.VirtualMachinePowerStatePoweredOn:  "POWERED_ON",
	types.VirtualMachinePowerStatePoweredOff: "POWERED_OFF",
	types.VirtualMachinePowerStateSuspended:  "SUSPENDED",
}

// Host connection states: REST 6.5 docs, vcenter host connection_state enum
// CONNECTED, DISCONNECTED, NOT_RESPONDING; power_state POWERED_ON,
// POWERED_OFF, STANDBY.
var vapiHostConnection = map[types.HostSystemConnectionState]string{
	types.HostSystemConnectionStateConnected:     "CONNECTED",
	types.HostSystemConnectionStateDisconnected:  "DISCONNECTED",
	types.HostSystemConnectionStateNotResponding: "NOT_RESPONDING",
}

var vapiHostPower = map[types.HostSystemPowerState]string{
	types.HostSystemPowerStatePoweredOn:  "POWERED_ON",
	types.HostSystemPowerStatePoweredOff: "POWERED_OFF",
	types.HostSystemPowerStateStandBy:    "STANDBY",
}

type vmFacts struct {
	id, name, power                 string
	folder, pool, host, cluster, dc string
	cpu, memoryMiB                  int32
	hasConfig                       bool
	guestID, biosUUID, instanceUUID string
	vmConnected, hostConnected      bool
	powerState                      types.VirtualMachinePowerState
	ref                             types.ManagedObjectReference
}

func refValue(r *types.ManagedObjectReference) string {
	if r == nil {
		return ""
	}
	return r.Value
}

func factsOfVM(vm *simulator.VirtualMachine) vmFacts {
	f := vmFacts{id: vm.Self.Value, ref: vm.Self}
	var hostRef *types.ManagedObjectReference
	withLock(vm, func() {
		f.name = vm.Name
		f.powerState = vm.Runtime.PowerState
		f.power = vapiPowerState[vm.Runtime.PowerState]
		f.folder = refValue(vm.Parent)
		f.pool = refValue(vm.ResourcePool)
		f.vmConnected = vm.Runtime.ConnectionState == "" || vm.Runtime.ConnectionState == types.VirtualMachineConnectionStateConnected
		if vm.Runtime.Host != nil {
			h := *vm.Runtime.Host
			hostRef = &h
		}
		if vm.Config != nil {
			f.hasConfig = true
			f.cpu = vm.Config.Hardware.NumCPU
			f.memoryMiB = vm.Config.Hardware.MemoryMB
			f.guestID = vm.Config.GuestId
			f.biosUUID = vm.Config.Uuid
			f.instanceUUID = vm.Config.InstanceUuid
		}
	})
	if hostRef != nil {
		f.host = hostRef.Value
		if h, ok := simulator.Map.Get(*hostRef).(*simulator.HostSystem); ok {
			hf := factsOfHost(h)
			f.cluster = hf.cluster
			f.hostConnected = hf.connection == "CONNECTED"
		}
	}
	if dc := datacenterOf(vm); dc != nil {
		f.dc = dc.Reference().Value
	}
	return f
}

type hostFacts struct {
	id, name, connection, power string
	folder, cluster, dc         string
}

func factsOfHost(h *simulator.HostSystem) hostFacts {
	f := hostFacts{id: h.Self.Value}
	var parent *types.ManagedObjectReference
	withLock(h, func() {
		f.name = h.Name
		f.connection = vapiHostConnection[h.Runtime.ConnectionState]
		f.power = vapiHostPower[h.Runtime.PowerState]
		if h.Parent != nil {
			p := *h.Parent
			parent = &p
		}
	})
	// A host's parent is its ComputeResource (standalone) or its
	// ClusterComputeResource; the folder holding it is above that.
	if parent != nil {
		if parent.Type == "ClusterComputeResource" {
			f.cluster = parent.Value
		}
		for e := entityOf(*parent); e != nil; {
			p := e.Entity().Parent
			if p == nil {
				break
			}
			if p.Type == "Folder" {
				f.folder = p.Value
				break
			}
			e = entityOf(*p)
		}
	}
	if dc := datacenterOf(h); dc != nil {
		f.dc = dc.Reference().Value
	}
	return f
}

// objectsOf lists the simulator's objects of one type in moref order, the
// order every list answers in.
func objectsOf[T mo.Reference](kind string) []T {
	var out []T
	for _, e := range simulator.Map.All(kind) {
		if o, ok := e.(T); ok {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return morefLess(out[i].Reference(), out[j].Reference()) })
	return out
}

// ---------------------------------------------------------------------------
// VMs.

// VM.FilterSpec: REST 6.5 docs, vm.list (filter.vms, names, folders,
// datacenters, hosts, clusters, resource_pools, power_states).  folders
// matches the VM's own folder only, not folders above it (a VMware engineer
// in vsphere-automation-sdk-python #87: "The API currently doesn't include
// vms in subfolders").
var vmFilterSpec = map[string]filterField{
	"vms":            {kind: filterSet},
	"names":          {kind: filterSet},
	"folders":        {kind: filterSet},
	"datacenters":    {kind: filterSet},
	"hosts":          {kind: filterSet},
	"clusters":       {kind: filterSet},
	"resource_pools": {kind: filterSet},
	"power_states":   {kind: filterEnum, allowed: []string{"POWERED_ON", "POWERED_OFF", "SUSPENDED"}},
}

// VM.Summary: REST 6.5 docs, vm.list: vm, name, power_state, cpu_count,
// memory_size_MiB (the last two unset when unknown).
func vmSummary(f vmFacts) map[string]interface{} {
	s := map[string]interface{}{"vm": f.id, "name": f.name, "power_state": f.power}
	if f.hasConfig {
		s["cpu_count"] = f.cpu
		s["memory_size_MiB"] = f.memoryMiB
	}
	return s
}

func listVMs(c *restCall) {
	flt, err := parseFilters(c.dialect, c.r.URL.RawQuery, vmFilterSpec)
	if err != nil {
		c.dialect.fail(c.w, err)
		return
	}
	items := []interface{}{}
	for _, vm := range allVMs() {
		f := factsOfVM(vm)
		if flt.accepts("vms", f.id) && flt.accepts("names", f.name) && flt.accepts("folders", f.folder) &&
			flt.accepts("datacenters", f.dc) && flt.accepts("hosts", f.host) && flt.accepts("clusters", f.cluster) &&
			flt.accepts("resource_pools", f.pool) && flt.accepts("power_states", f.power) {
			items = append(items, vmSummary(f))
		}
	}
	c.listAnswer("vm", "virtual machines", items)
}

// vmOf finds the path's VM or answers 404.  A real vCenter's message names
// the id followed by ":" and its own instance UUID ("Virtual machine with
// identifier 'vm-3192:19595054-8196-42fe-a140-bbd3210a3bb8' does not exist.",
// id com.vmware.api.vcenter.vm.not_found, args the same string; captured
// from a vCenter's /rest answer in a public repository).
func vmOf(c *restCall) *simulator.VirtualMachine {
	id := c.params["vm"]
	if vm := lookupVM(types.ManagedObjectReference{Type: "VirtualMachine", Value: id}); vm != nil {
		return vm
	}
	full := id + ":" + state.client.ServiceContent.About.InstanceUuid
	c.dialect.fail(c.w, newError(http.StatusNotFound, "NOT_FOUND",
		msg("com.vmware.api.vcenter.vm.not_found", "Virtual machine with identifier '"+full+"' does not exist.", full)))
	return nil
}

// guestOS turns vim's guestId into the vAPI GuestOS enum's spelling
// (otherGuest is OTHER, otherGuest64 OTHER_64, rhel7_64Guest RHEL_7_64: API
// docs, Vm GuestOS); a rule inferred from the enum's names, right for the
// ids the simulator's VMs use.
func guestOS(id string) string {
	id = strings.TrimSuffix(strings.Replace(id, "Guest", "", 1), "_")
	var b strings.Builder
	for i, r := range id {
		if i > 0 {
			prev := rune(id[i-1])
			if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9' && !(prev >= '0' && prev <= '9') && prev != '_') {
				b.WriteByte('_')
			}
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// GET vm/{vm}: VM.Info (API docs, Get Vm): name, power_state, guest_OS,
// identity {name, bios_uuid, instance_uuid} (since 7.0 U1), cpu {count},
// memory {size_MiB}; the rest of VM.Info (disks, nics, ...) is not served.
func getVM(c *restCall) {
	vm := vmOf(c)
	if vm == nil {
		return
	}
	f := factsOfVM(vm)
	info := map[string]interface{}{
		"name":        f.name,
		"power_state": f.power,
		"guest_OS":    guestOS(f.guestID),
		"identity":    map[string]string{"name": f.name, "bios_uuid": f.biosUUID, "instance_uuid": f.instanceUUID},
		"cpu":         map[string]interface{}{"count": f.cpu, "cores_per_socket": 1, "hot_add_enabled": false, "hot_remove_enabled": false},
		"memory":      map[string]interface{}{"size_MiB": f.memoryMiB, "hot_add_enabled": false},
	}
	c.dialect.ok(c.w, http.StatusOK, info)
}

// GET vm/{vm}/power: REST docs, Get Power: {"value":{"clean_power_off":
// false,"state":"enum"}}; clean_power_off "is only relevant when the value of
// state is POWERED_OFF".  The simulator has no guest to crash, so a
// powered-off VM reports a clean power-off.
func getPower(c *restCall) {
	vm := vmOf(c)
	if vm == nil {
		return
	}
	f := factsOfVM(vm)
	info := map[string]interface{}{"state": f.power}
	if f.powerState == types.VirtualMachinePowerStatePoweredOff {
		info["clean_power_off"] = true
	}
	c.dialect.ok(c.w, http.StatusOK, info)
}

// invalidPowerState is vim's InvalidPowerState text, which vCenter adds as
// the second message of a power error (ansible vmware_rest test logs:
// {"args":[],"default_message":"The attempted operation cannot be performed
// in the current state (Powered off).","id":"vmsg.InvalidPowerState.summary"}).
func invalidPowerState(ps types.VirtualMachinePowerState) vapiMessage {
	words := map[types.VirtualMachinePowerState]string{
		types.VirtualMachinePowerStatePoweredOn:  "Powered on",
		types.VirtualMachinePowerStatePoweredOff: "Powered off",
		types.VirtualMachinePowerStateSuspended:  "Suspended",
	}
	return msg("vmsg.InvalidPowerState.summary",
		"The attempted operation cannot be performed in the current state ("+words[ps]+").")
}

// alreadyInState: REST 6.5 docs, power.start/stop: "400
// already_in_desired_state if the virtual machine is already powered
// on/off"; body of a real vCenter (ansible vmware_rest test logs):
// {"error_type":"ALREADY_IN_DESIRED_STATE","messages":[{"args":[],
// "default_message":"Virtual machine is already powered off.","id":
// "com.vmware.api.vcenter.vm.power.already_powered_off"}, <InvalidPowerState>]}.
// The powered-on and suspended texts follow the powered-off one.
func alreadyInState(ps types.VirtualMachinePowerState) *vapiError {
	what := map[types.VirtualMachinePowerState][2]string{
		types.VirtualMachinePowerStatePoweredOn:  {"already_powered_on", "powered on"},
		types.VirtualMachinePowerStatePoweredOff: {"already_powered_off", "powered off"},
		types.VirtualMachinePowerStateSuspended:  {"already_suspended", "suspended"},
	}[ps]
	return newError(http.StatusBadRequest, "ALREADY_IN_DESIRED_STATE",
		msg("com.vmware.api.vcenter.vm.power."+what[0], "Virtual machine is already "+what[1]+"."),
		invalidPowerState(ps))
}

// notAllowed: REST 6.5 docs, power.reset and power.suspend: "400
// not_allowed_in_current_state if the virtual machine is not powered on".
// No real body was found; the message is vim's InvalidPowerState.
func notAllowed(ps types.VirtualMachinePowerState) *vapiError {
	return newError(http.StatusBadRequest, "NOT_ALLOWED_IN_CURRENT_STATE", invalidPowerState(ps))
}

var powerActions = map[string]struct {
	method string
	target types.VirtualMachinePowerState
	// from: the states the action starts from; other states are either the
	// target (already_in_desired_state) or not allowed.
	from []types.VirtualMachinePowerState
}{
	// start: "Powers on a powered-off or suspended virtual machine"; stop:
	// "Powers off a powered-on or suspended virtual machine"; reset and
	// suspend need a powered-on VM (REST 6.5 docs, vm power).
	"start":   {"PowerOnVM_Task", types.VirtualMachinePowerStatePoweredOn, []types.VirtualMachinePowerState{types.VirtualMachinePowerStatePoweredOff, types.VirtualMachinePowerStateSuspended}},
	"stop":    {"PowerOffVM_Task", types.VirtualMachinePowerStatePoweredOff, []types.VirtualMachinePowerState{types.VirtualMachinePowerStatePoweredOn, types.VirtualMachinePowerStateSuspended}},
	"reset":   {"ResetVM_Task", "", []types.VirtualMachinePowerState{types.VirtualMachinePowerStatePoweredOn}},
	"suspend": {"SuspendVM_Task", types.VirtualMachinePowerStateSuspended, []types.VirtualMachinePowerState{types.VirtualMachinePowerStatePoweredOn}},
}

// POST vm/{vm}/power/{action} (/rest) and vm/{vm}/power?action= (/api).
func postPower(c *restCall) {
	action := c.r.URL.Query().Get("action")
	if c.dialect == dialectREST {
		action = c.r.URL.Path[strings.LastIndexByte(c.r.URL.Path, '/')+1:]
	}
	op, known := powerActions[action]
	if !known {
		c.dialect.fail(c.w, noSuchAction(action))
		return
	}
	vm := vmOf(c)
	if vm == nil {
		return
	}
	// REST 6.5 docs, power operations: "403 unauthorized if the user doesn't
	// have the required privileges"; vAPI runtime message (sdk-go bundle):
	// vapi.security.authorization.invalid, "Unable to authorize user".
	if c.user == readonlyUser {
		c.dialect.fail(c.w, newError(http.StatusForbidden, "UNAUTHORIZED",
			msg("vapi.security.authorization.invalid", "Unable to authorize user")))
		return
	}
	f := factsOfVM(vm)
	if !f.vmConnected || !f.hostConnected {
		// REST 6.5 docs list "503 service_unavailable if the system is
		// unable to communicate with a service to complete the request";
		// which error a real vCenter gives for a VM on a disconnected host
		// was not found, nor its text.
		c.dialect.fail(c.w, newError(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE",
			msg("com.vmware.api.vcenter.vm.power.host_not_connected",
				"The host of virtual machine '"+f.id+"' is not connected; its power state cannot be changed.", f.id)))
		return
	}
	if fault := runPowerTask(vm, action, op.method, op.target, op.from); fault != nil {
		c.dialect.fail(c.w, fault)
		return
	}
	c.dialect.ok(c.w, http.StatusNoContent, nil)
}

// runPowerTask checks the VM's state and has the simulator perform the
// operation, under the wrapper's lock like main.go's power(), so that a SOAP
// task pending on the VM and a REST call cannot interleave.
func runPowerTask(vm *simulator.VirtualMachine, action, method string,
	target types.VirtualMachinePowerState, from []types.VirtualMachinePowerState) *vapiError {
	ref := vm.Self
	state.mu.Lock()
	if state.pending[ref] != nil {
		state.mu.Unlock()
		// REST 6.5 docs: "400 resource_busy if the virtual machine is
		// performing another operation"; vim's TaskInProgress text.
		return newError(http.StatusBadRequest, "RESOURCE_BUSY",
			msg("vmsg.TaskInProgress.summary", "Another task is already in progress."))
	}
	var power types.VirtualMachinePowerState
	withLock(vm, func() { power = vm.Runtime.PowerState })
	allowed := false
	for _, s := range from {
		allowed = allowed || s == power
	}
	if !allowed {
		state.mu.Unlock()
		if power == target {
			return alreadyInState(power)
		}
		return notAllowed(power)
	}
	var fault *types.LocalizedMethodFault
	if state.slowVMs[ref] && (action == "start" || action == "stop") {
		task := startTask(vm, map[string]string{"start": "powerOn", "stop": "powerOff"}[action])
		state.pending[ref] = &pendingOp{task: task, kind: "slow"}
		state.mu.Unlock()
		runSlow(ref, task, method) // the REST call waits, as the real one does
		withLock(task, func() {
			if task.Info.Error != nil {
				e := *task.Info.Error
				fault = &e
			}
		})
	} else {
		state.mu.Unlock()
		fault = simulatorTask(ref, method)
	}
	if fault == nil {
		return nil
	}
	if ps, ok := fault.Fault.(*types.InvalidPowerState); ok {
		return alreadyInState(ps.ExistingState)
	}
	// REST 6.5 docs: "500 error if the system reports an error while
	// responding to the request".
	return newError(http.StatusInternalServerError, "ERROR", msg("com.vmware.api.vcenter.vm.power.error", fault.LocalizedMessage))
}

// simulatorTask runs one of the simulator's power tasks through the
// in-process client and returns the task's fault, if any.  PowerOn and
// PowerOff go through main.go's simulatorPowerOp; Reset and Suspend, which
// it does not offer, are started here the same way.
func simulatorTask(ref types.ManagedObjectReference, method string) *types.LocalizedMethodFault {
	var taskRef types.ManagedObjectReference
	var err error
	ctx := context.Background()
	switch method {
	case "ResetVM_Task":
		var res *types.ResetVM_TaskResponse
		if res, err = methods.ResetVM_Task(ctx, state.client, &types.ResetVM_Task{This: ref}); err == nil {
			taskRef = res.Returnval
		}
	case "SuspendVM_Task":
		var res *types.SuspendVM_TaskResponse
		if res, err = methods.SuspendVM_Task(ctx, state.client, &types.SuspendVM_Task{This: ref}); err == nil {
			taskRef = res.Returnval
		}
	default:
		return simulatorPowerOp(ref, method)
	}
	if err != nil {
		return &types.LocalizedMethodFault{Fault: &types.SystemError{Reason: err.Error()}, LocalizedMessage: err.Error()}
	}
	task, ok := simulator.Map.Get(taskRef).(*simulator.Task)
	if !ok {
		return nil
	}
	var fault *types.LocalizedMethodFault
	withLock(task, func() {
		if task.Info.Error != nil {
			e := *task.Info.Error
			fault = &e
		}
	})
	return fault
}

// ---------------------------------------------------------------------------
// Hosts, folders, datacenters.

// Host.FilterSpec: 7.0 docs, host.list (filter.hosts, names, folders,
// datacenters, standalone, clusters, connection_states).
var hostFilterSpec = map[string]filterField{
	"hosts":             {kind: filterSet},
	"names":             {kind: filterSet},
	"folders":           {kind: filterSet},
	"datacenters":       {kind: filterSet},
	"clusters":          {kind: filterSet},
	"standalone":        {kind: filterBool},
	"connection_states": {kind: filterEnum, allowed: []string{"CONNECTED", "DISCONNECTED", "NOT_RESPONDING"}},
}

// Host.Summary: host, name, connection_state, and power_state "only relevant
// when the value of connection_state is CONNECTED" (API docs, List Host).
func listHosts(c *restCall) {
	flt, err := parseFilters(c.dialect, c.r.URL.RawQuery, hostFilterSpec)
	if err != nil {
		c.dialect.fail(c.w, err)
		return
	}
	items := []interface{}{}
	for _, h := range objectsOf[*simulator.HostSystem]("HostSystem") {
		f := factsOfHost(h)
		standalone := strconv.FormatBool(f.cluster == "")
		if !(flt.accepts("hosts", f.id) && flt.accepts("names", f.name) && flt.accepts("folders", f.folder) &&
			flt.accepts("datacenters", f.dc) && flt.accepts("clusters", f.cluster) &&
			flt.accepts("standalone", standalone) && flt.accepts("connection_states", f.connection)) {
			continue
		}
		// "If this field is true and clusters is not empty, no hosts will
		// match the filter" (7.0 docs, host.list, filter.standalone).
		if flt.has("clusters") && flt.accepts("standalone", "true") && flt.has("standalone") {
			continue
		}
		s := map[string]interface{}{"host": f.id, "name": f.name, "connection_state": f.connection}
		if f.connection == "CONNECTED" && f.power != "" {
			s["power_state"] = f.power
		}
		items = append(items, s)
	}
	c.listAnswer("host", "hosts", items)
}

// Folder.FilterSpec and Folder.Summary: REST 6.5 docs, folder.list
// (filter.folders, names, type, parent_folders, datacenters; summary folder,
// name, type in DATACENTER, DATASTORE, HOST, NETWORK, VIRTUAL_MACHINE).
var folderFilterSpec = map[string]filterField{
	"folders":        {kind: filterSet},
	"names":          {kind: filterSet},
	"parent_folders": {kind: filterSet},
	"datacenters":    {kind: filterSet},
	"type":           {kind: filterOneOf, allowed: []string{"DATACENTER", "DATASTORE", "HOST", "NETWORK", "VIRTUAL_MACHINE"}},
}

// folderType: a folder's type is what it may hold (vim Folder.childType).
func folderType(childTypes []string) string {
	for _, t := range []struct{ child, vapi string }{
		{"VirtualMachine", "VIRTUAL_MACHINE"}, {"Datacenter", "DATACENTER"}, {"ComputeResource", "HOST"},
		{"Datastore", "DATASTORE"}, {"Network", "NETWORK"},
	} {
		if contains(childTypes, t.child) {
			return t.vapi
		}
	}
	return ""
}

func listFolders(c *restCall) {
	flt, err := parseFilters(c.dialect, c.r.URL.RawQuery, folderFilterSpec)
	if err != nil {
		c.dialect.fail(c.w, err)
		return
	}
	items := []interface{}{}
	for _, f := range objectsOf[*simulator.Folder]("Folder") {
		var name, kind, parent string
		withLock(f, func() {
			name, kind, parent = f.Name, folderType(f.ChildType), refValue(f.Parent)
		})
		dc := ""
		if d := datacenterOf(f); d != nil {
			dc = d.Reference().Value
		}
		if flt.accepts("folders", f.Self.Value) && flt.accepts("names", name) && flt.accepts("type", kind) &&
			flt.accepts("parent_folders", parent) && flt.accepts("datacenters", dc) {
			items = append(items, map[string]interface{}{"folder": f.Self.Value, "name": name, "type": kind})
		}
	}
	c.listAnswer("folder", "folders", items)
}

// Datacenter.FilterSpec and Summary: REST 6.5 docs, datacenter.list
// (filter.datacenters, names, folders; summary datacenter, name; "400
// unable_to_allocate_resource if more than 1000 datacenters match").
var datacenterFilterSpec = map[string]filterField{
	"datacenters": {kind: filterSet},
	"names":       {kind: filterSet},
	"folders":     {kind: filterSet},
}

func listDatacenters(c *restCall) {
	flt, err := parseFilters(c.dialect, c.r.URL.RawQuery, datacenterFilterSpec)
	if err != nil {
		c.dialect.fail(c.w, err)
		return
	}
	items := []interface{}{}
	for _, d := range objectsOf[*simulator.Datacenter]("Datacenter") {
		var name, parent string
		withLock(d, func() { name, parent = d.Name, refValue(d.Parent) })
		if flt.accepts("datacenters", d.Self.Value) && flt.accepts("names", name) && flt.accepts("folders", parent) {
			items = append(items, map[string]interface{}{"datacenter": d.Self.Value, "name": name})
		}
	}
	c.listAnswer("datacenter", "datacenters", items)
}

// ---------------------------------------------------------------------------
// Control endpoint additions.

// sdkServed: whether /sdk answers (main.go's front end asks).
func sdkServed() bool {
	restSt.mu.Lock()
	defer restSt.mu.Unlock()
	return !restSt.noSDK
}

// soapLoginAllowed: whether a vim25 Login of user may succeed (main.go's
// login asks).
func soapLoginAllowed(user string) bool {
	restSt.mu.Lock()
	defer restSt.mu.Unlock()
	return !restSt.soapRefused[user]
}

// withRESTControl serves /rest/... on the control listener and hands every
// other path to main.go's control handler.
func withRESTControl(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("/rest/sessions", func(w http.ResponseWriter, r *http.Request) {
		restSt.mu.Lock()
		v := map[string]int{
			"logins": restSt.logins, "logouts": restSt.logouts, "active": len(restSt.sessions),
			"refused": restSt.refused, "limit": restSt.limit,
		}
		restSt.mu.Unlock()
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("/rest/sessions/expire", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			jsonError(w, http.StatusMethodNotAllowed, "POST only")
			return
		}
		restSt.mu.Lock()
		n := len(restSt.sessions)
		restSt.sessions = map[string]*restSession{}
		restSt.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]int{"expired": n})
	})
	mux.HandleFunc("/rest/sessions/limit", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("max"))
		if r.Method != http.MethodPost || err != nil || n < 0 {
			jsonError(w, http.StatusBadRequest, "POST /rest/sessions/limit?max=N (N >= 0)")
			return
		}
		restSt.mu.Lock()
		restSt.limit = n
		restSt.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]int{"limit": n})
	})
	mux.HandleFunc("/rest/api", func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.URL.Query().Get("enabled"))
		if r.Method != http.MethodPost || err != nil {
			jsonError(w, http.StatusBadRequest, "POST /rest/api?enabled=true|false")
			return
		}
		restSt.mu.Lock()
		restSt.noAPI = !on
		restSt.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]bool{"enabled": on})
	})
	mux.HandleFunc("/rest/sdk", func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.URL.Query().Get("enabled"))
		if r.Method != http.MethodPost || err != nil {
			jsonError(w, http.StatusBadRequest, "POST /rest/sdk?enabled=true|false")
			return
		}
		restSt.mu.Lock()
		restSt.noSDK = !on
		restSt.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]bool{"enabled": on})
	})
	mux.HandleFunc("/rest/soap-login", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		allowed, err := strconv.ParseBool(q.Get("allowed"))
		if r.Method != http.MethodPost || err != nil || q.Get("user") == "" {
			jsonError(w, http.StatusBadRequest, "POST /rest/soap-login?user=U&allowed=true|false")
			return
		}
		restSt.mu.Lock()
		restSt.soapRefused[q.Get("user")] = !allowed
		restSt.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]interface{}{"user": q.Get("user"), "allowed": allowed})
	})
	mux.HandleFunc("/rest/delay", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		count, errC := strconv.Atoi(q.Get("count"))
		ms, errM := strconv.Atoi(q.Get("ms"))
		if r.Method != http.MethodPost || q.Get("call") == "" || errC != nil || errM != nil || count < 0 || ms <= 0 {
			jsonError(w, http.StatusBadRequest, "POST /rest/delay?call=KEY&count=N&ms=D (D > 0)")
			return
		}
		restSt.mu.Lock()
		restSt.delays[q.Get("call")] = &restDelay{count: count, delay: time.Duration(ms) * time.Millisecond}
		restSt.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]int{"armed": count})
	})
	mux.HandleFunc("/rest/calls", func(w http.ResponseWriter, r *http.Request) {
		restSt.mu.Lock()
		v := make(map[string]int, len(restSt.calls))
		for k, n := range restSt.calls {
			v[k] = n
		}
		restSt.mu.Unlock()
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("/rest/caps", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			q := r.URL.Query()
			restN, errR := strconv.Atoi(q.Get("rest"))
			apiN, errA := strconv.Atoi(q.Get("api"))
			restSt.mu.Lock()
			_, known := restCaps[q.Get("resource")]
			if known && errR == nil && errA == nil && restN >= 0 && apiN >= 0 {
				restCaps[q.Get("resource")] = [2]int{restN, apiN}
			}
			restSt.mu.Unlock()
			if !known || errR != nil || errA != nil || restN < 0 || apiN < 0 {
				jsonError(w, http.StatusBadRequest, "POST /rest/caps?resource=vm|host|folder|datacenter&rest=N&api=M")
				return
			}
		}
		restSt.mu.Lock()
		v := make(map[string]map[string]int, len(restCaps))
		for k, c := range restCaps {
			v[k] = map[string]int{"rest": c[0], "api": c[1]}
		}
		restSt.mu.Unlock()
		writeJSON(w, http.StatusOK, v)
	})
	return mux
}

// ---------------------------------------------------------------------------
// Extra VMs (-extra-vms).

const extraPerFolder = 500

// datastoreRoot is where the simulator keeps its datastores' directories:
// under the state directory, except with -extra-vms, where creating a
// directory and a .vmx file per VM is bound by the filesystem (4,100 VMs on
// a busy ext4: 18 to 22 s; on tmpfs: 2.5 to 4.5 s), so they go to /dev/shm
// when it is writable.  main.go removes the directory on SIGTERM; one left
// behind by a killed simulator is removed by the next one.
func datastoreRoot(stateDir string, extraVMs int) string {
	fallback := filepath.Join(stateDir, "datastores")
	const shm, prefix = "/dev/shm", "vcsim-datastores-"
	if extraVMs <= 0 {
		return fallback
	}
	if entries, err := os.ReadDir(shm); err == nil {
		for _, e := range entries {
			pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), prefix))
			if err != nil || !strings.HasPrefix(e.Name(), prefix) || pid == os.Getpid() {
				continue
			}
			if syscall.Kill(pid, 0) == syscall.ESRCH {
				_ = os.RemoveAll(filepath.Join(shm, e.Name()))
			}
		}
	}
	dir := filepath.Join(shm, prefix+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fallback
	}
	return dir
}

// addExtraVMs creates n VMs spread over every host of every datacenter (so
// no host holds more than a cap's worth while the whole inventory can exceed
// them) and, per datacenter, over folders of at most extraPerFolder VMs.
// They are created by the simulator (CreateVM_Task) and three of every four
// then marked powered on directly, which is much faster than n power tasks.
func addExtraVMs(ctx context.Context, c *vim25.Client, n int) error {
	if n <= 0 {
		return nil
	}
	started := time.Now()
	finder := find.NewFinder(c, false)
	dcs, err := finder.DatacenterList(ctx, "*")
	if err != nil {
		return err
	}
	type slot struct {
		dc   *object.Datacenter
		host *object.HostSystem
		pool *object.ResourcePool
	}
	var slots []slot
	for _, dc := range dcs {
		finder.SetDatacenter(dc)
		hosts, err := finder.HostSystemList(ctx, "*")
		if err != nil {
			return fmt.Errorf("hosts of %s: %w", dc.Name(), err)
		}
		for _, h := range hosts {
			pool, err := h.ResourcePool(ctx)
			if err != nil {
				return err
			}
			slots = append(slots, slot{dc, h, pool})
		}
	}
	if len(slots) == 0 {
		return fmt.Errorf("no hosts for extra VMs")
	}
	// How many VMs each datacenter gets, hence how many folders it needs.
	share := map[string]int{}
	for i := 0; i < n; i++ {
		share[slots[i%len(slots)].dc.Reference().Value]++
	}
	placed := map[string]int{}
	folders := map[string]*object.Folder{}
	for i := 0; i < n; i++ {
		s := slots[i%len(slots)]
		dcKey := s.dc.Reference().Value
		nFolders := (share[dcKey] + extraPerFolder - 1) / extraPerFolder
		folderName := fmt.Sprintf("extra-%02d", placed[dcKey]%nFolders)
		placed[dcKey]++
		key := dcKey + "/" + folderName
		if folders[key] == nil {
			dcFolders, err := s.dc.Folders(ctx)
			if err != nil {
				return err
			}
			f, err := dcFolders.VmFolder.CreateFolder(ctx, folderName)
			if err != nil {
				return fmt.Errorf("folder %s: %w", key, err)
			}
			folders[key] = f
		}
		name := fmt.Sprintf("extra-%05d", i+1)
		spec := types.VirtualMachineConfigSpec{
			Name:     name,
			GuestId:  string(types.VirtualMachineGuestOsIdentifierOtherGuest),
			NumCPUs:  1,
			MemoryMB: 32,
			Files:    &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		}
		task, err := folders[key].CreateVM(ctx, spec, s.pool, s.host)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		// The simulator's CreateVM_Task is done when the call returns: its
		// result is read from the task itself, which is several times
		// faster than a property collector per VM (task.WaitForResult).
		ref, err := createdVM(task.Reference())
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		if i%4 == 3 {
			continue
		}
		if vm := lookupVM(ref); vm != nil {
			now := time.Now()
			withLock(vm, func() {
				simulator.Map.Update(vm, []types.PropertyChange{
					{Name: "runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOn},
					{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOn},
					{Name: "runtime.bootTime", Val: now},
					{Name: "summary.runtime.bootTime", Val: now},
				})
			})
		}
	}
	log.Printf("added %d extra VMs in %v", n, time.Since(started).Round(time.Millisecond))
	return nil
}

func createdVM(taskRef types.ManagedObjectReference) (types.ManagedObjectReference, error) {
	task, ok := simulator.Map.Get(taskRef).(*simulator.Task)
	if !ok {
		return types.ManagedObjectReference{}, fmt.Errorf("no task %s", taskRef.Value)
	}
	var info types.TaskInfo
	withLock(task, func() { info = task.Info })
	if info.Error != nil {
		return types.ManagedObjectReference{}, fmt.Errorf("%s", info.Error.LocalizedMessage)
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok || info.State != types.TaskInfoStateSuccess {
		return types.ManagedObjectReference{}, fmt.Errorf("task %s is %s without a VM", taskRef.Value, info.State)
	}
	return ref, nil
}
