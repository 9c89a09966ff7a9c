// Command benchpeer is the benchmark's helper around the vSphere simulator
// (cts/vcsim).  It has two sub-commands:
//
//	benchpeer wsdl DIR
//	    Write a vSphere-style WSDL (vimService.wsdl -> vim.wsdl ->
//	    vim-messages.xsd -> vim-types.xsd) generated from govmomi's vim25
//	    Go types, as Debian packages them.  fence-agents' Python
//	    fence_vmware_soap (suds) cannot start without the WSDL, which a real
//	    vCenter serves at /sdk/vimService.wsdl but VMware's simulator does
//	    not.  The generated WSDL has every data type, enum and method that
//	    govmomi knows (thousands), so suds parses a document of the same
//	    order of size as the real one; fault messages are left out.
//
//	benchpeer proxy -upstream URL -wsdl DIR -state-dir DIR [-tls [-key-type rsa2048|ecdsa]]
//	    A reverse proxy in front of the simulator: GET /sdk/<file> of the
//	    WSDL directory is answered from it, everything else is forwarded to
//	    the simulator (plain HTTP, keep-alive).  With -tls it serves HTTPS
//	    with a fresh self-signed certificate (DIR/ca.pem) whose key is
//	    ECDSA P-256 or RSA-2048, like cts/vcsim's -key-type.  Writes
//	    DIR/proxy.json {"port":N,"url":...} when ready; exits on SIGTERM.
//	    GET /bench/stats returns how many WSDL/XSD files it served, and the
//	    number and body sizes of the SOAP requests it forwarded.
//
// Build (offline, GOPATH mode, like cts/vcsim/build.sh):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o OUT .
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
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
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	log.SetPrefix("benchpeer: ")
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: benchpeer wsdl|proxy ...")
	}
	switch os.Args[1] {
	case "wsdl":
		if len(os.Args) != 3 {
			log.Fatal("usage: benchpeer wsdl DIR")
		}
		if err := genWSDL(os.Args[2]); err != nil {
			log.Fatal(err)
		}
	case "proxy":
		proxyMain(os.Args[2:])
	default:
		log.Fatalf("unknown sub-command %q", os.Args[1])
	}
}

// ---------------------------------------------------------------------------
// WSDL generation from govmomi's vim25 types.

func govmomiTypesDir() string {
	for _, root := range strings.Split(os.Getenv("GOPATH")+":/usr/share/gocode", ":") {
		if root == "" {
			continue
		}
		d := filepath.Join(root, "src/github.com/vmware/govmomi/vim25/types")
		if _, err := os.Stat(filepath.Join(d, "types.go")); err == nil {
			return d
		}
	}
	log.Fatal("govmomi vim25/types sources not found (package golang-github-vmware-govmomi-dev)")
	return ""
}

var (
	reRegistered = regexp.MustCompile(`t\["(\w+)"\] = reflect\.TypeOf`)
	reEnumValue  = regexp.MustCompile(`(?m)^\s*\w+\s*=\s*(\w+)\("([^"]*)"\)`)
	reResponse   = regexp.MustCompile(`(?s)type (\w+)Response struct \{\n(.*?)\n?\}`)
	reReturnval  = regexp.MustCompile("Returnval\\s+(\\S+)\\s+`xml:\"returnval(,omitempty)?\"`")
)

type gen struct {
	tf       types.Func
	names    map[string]bool
	enums    map[string][]string
	anyType  reflect.Type
	timeType reflect.Type
}

func (g *gen) registered(name string) bool {
	_, ok := g.tf(name)
	return ok && g.names[name]
}

// xsdType maps a Go field type to an XSD type name and occurrence flags.
func (g *gen) xsdType(ft reflect.Type) (typ string, optional, many bool) {
	for {
		switch ft.Kind() {
		case reflect.Ptr:
			optional = true
			ft = ft.Elem()
			continue
		case reflect.Slice:
			if ft.Elem().Kind() == reflect.Uint8 {
				return "xsd:base64Binary", optional, many
			}
			optional, many = true, true
			ft = ft.Elem()
			continue
		}
		break
	}
	switch ft.Kind() {
	case reflect.Interface:
		if ft == g.anyType {
			return "xsd:anyType", optional, many
		}
		n := strings.TrimPrefix(ft.Name(), "Base")
		if g.registered(n) {
			return "vim25:" + n, optional, many
		}
		return "xsd:anyType", optional, many
	case reflect.Struct:
		if ft == g.timeType {
			return "xsd:dateTime", optional, many
		}
		if g.registered(ft.Name()) {
			return "vim25:" + ft.Name(), optional, many
		}
		return "xsd:anyType", optional, many
	case reflect.String:
		if ft.Name() != "string" && g.registered(ft.Name()) {
			return "vim25:" + ft.Name(), optional, many
		}
		return "xsd:string", optional, many
	case reflect.Bool:
		return "xsd:boolean", optional, many
	case reflect.Int8:
		return "xsd:byte", optional, many
	case reflect.Int16:
		return "xsd:short", optional, many
	case reflect.Int32, reflect.Int:
		return "xsd:int", optional, many
	case reflect.Int64:
		return "xsd:long", optional, many
	case reflect.Uint8:
		return "xsd:unsignedByte", optional, many
	case reflect.Float32:
		return "xsd:float", optional, many
	case reflect.Float64:
		return "xsd:double", optional, many
	}
	return "xsd:anyType", optional, many
}

func element(b *bytes.Buffer, indent, name, typ string, optional, many bool) {
	fmt.Fprintf(b, "%s<element name=\"%s\" type=\"%s\"", indent, name, typ)
	if optional {
		b.WriteString(` minOccurs="0"`)
	}
	if many {
		b.WriteString(` maxOccurs="unbounded"`)
	}
	b.WriteString("/>\n")
}

func (g *gen) complexType(b *bytes.Buffer, name string, rt reflect.Type) {
	if name == "ManagedObjectReference" {
		b.WriteString(`   <complexType name="ManagedObjectReference">
      <simpleContent>
         <extension base="xsd:string">
            <attribute name="type" type="xsd:string"/>
         </extension>
      </simpleContent>
   </complexType>
`)
		return
	}
	base := ""
	var fields bytes.Buffer
	if name == "DynamicData" {
		element(&fields, "            ", "dynamicType", "xsd:string", true, false)
		element(&fields, "            ", "dynamicProperty", "vim25:DynamicProperty", true, true)
	}
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if f.Anonymous {
			if f.Type.Kind() == reflect.Struct && g.registered(f.Type.Name()) && base == "" {
				base = f.Type.Name()
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		tag := strings.Split(f.Tag.Get("xml"), ",")
		if tag[0] == "-" || tag[0] == "" {
			continue
		}
		opts := "," + strings.Join(tag[1:], ",") + ","
		if strings.Contains(opts, ",attr,") || strings.Contains(opts, ",chardata,") {
			continue
		}
		typ, optional, many := g.xsdType(f.Type)
		if strings.Contains(opts, ",omitempty,") {
			optional = true
		}
		element(&fields, "            ", tag[0], typ, optional, many)
	}
	fmt.Fprintf(b, "   <complexType name=\"%s\">\n", name)
	if base != "" {
		fmt.Fprintf(b, "      <complexContent>\n         <extension base=\"vim25:%s\">\n", base)
		fmt.Fprintf(b, "         <sequence>\n%s         </sequence>\n", fields.String())
		b.WriteString("         </extension>\n      </complexContent>\n")
	} else {
		fmt.Fprintf(b, "      <sequence>\n%s      </sequence>\n", fields.String())
	}
	b.WriteString("   </complexType>\n")
}

func (g *gen) simpleType(b *bytes.Buffer, name string) {
	fmt.Fprintf(b, "   <simpleType name=\"%s\">\n      <restriction base=\"xsd:string\">\n", name)
	for _, v := range g.enums[name] {
		fmt.Fprintf(b, "         <enumeration value=\"%s\"/>\n", xmlEscape(v))
	}
	b.WriteString("      </restriction>\n   </simpleType>\n")
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xmlEscapeTo(&b, s)
	return b.String()
}

func xmlEscapeTo(b *bytes.Buffer, s string) error {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	_, err := b.WriteString(r.Replace(s))
	return err
}

const schemaOpen = `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by bench/peer (benchpeer wsdl) from govmomi's vim25 Go types, for benchmarks only. -->
<schema targetNamespace="urn:vim25" xmlns="http://www.w3.org/2001/XMLSchema" xmlns:vim25="urn:vim25" xmlns:xsd="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
`

func genWSDL(dir string) error {
	src := govmomiTypesDir()
	typesGo, err := os.ReadFile(filepath.Join(src, "types.go"))
	if err != nil {
		return err
	}
	enumGo, err := os.ReadFile(filepath.Join(src, "enum.go"))
	if err != nil {
		return err
	}
	g := &gen{
		tf:       types.TypeFunc(),
		names:    map[string]bool{},
		enums:    map[string][]string{},
		anyType:  reflect.TypeOf((*types.AnyType)(nil)).Elem(),
		timeType: reflect.TypeOf(time.Time{}),
	}
	var all []string
	for _, text := range [][]byte{typesGo, enumGo} {
		for _, m := range reRegistered.FindAllSubmatch(text, -1) {
			n := string(m[1])
			if !g.names[n] {
				g.names[n] = true
				all = append(all, n)
			}
		}
	}
	for _, m := range reEnumValue.FindAllSubmatch(enumGo, -1) {
		g.enums[string(m[1])] = append(g.enums[string(m[1])], string(m[2]))
	}
	sort.Strings(all)

	// Methods: M with MRequestType registered and an MResponse struct.
	responses := map[string]string{} // method -> body of its Response struct
	for _, m := range reResponse.FindAllSubmatch(typesGo, -1) {
		responses[string(m[1])] = string(m[2])
	}
	// The request type of M_Task is MRequestType (PowerOffVM_Task ->
	// PowerOffVMRequestType), as in VMware's WSDL.
	reqType := func(m string) string {
		if g.names[m+"RequestType"] {
			return m + "RequestType"
		}
		if r := strings.TrimSuffix(m, "_Task") + "RequestType"; g.names[r] {
			return r
		}
		return ""
	}
	var methods []string
	isMethod := map[string]bool{}
	for _, n := range all {
		if _, ok := responses[n]; ok && reqType(n) != "" {
			methods = append(methods, n)
			isMethod[n] = true
		}
	}

	var vt, vm bytes.Buffer
	vt.WriteString(schemaOpen)
	vm.WriteString(schemaOpen)
	vm.WriteString("   <include schemaLocation=\"vim-types.xsd\"/>\n")
	nTypes := 0
	for _, n := range all {
		rt, ok := g.tf(n)
		if !ok {
			continue
		}
		switch {
		case isMethod[n]:
			// element, written below
		case strings.HasSuffix(n, "RequestType") && rt.Kind() == reflect.Struct:
			g.complexType(&vm, n, rt)
		case rt.Kind() == reflect.Struct:
			g.complexType(&vt, n, rt)
			nTypes++
		case rt.Kind() == reflect.String:
			g.simpleType(&vt, n)
			nTypes++
		}
	}
	vt.WriteString("</schema>\n")

	for _, m := range methods {
		fmt.Fprintf(&vm, "   <element name=\"%s\" type=\"vim25:%s\"/>\n", m, reqType(m))
		fmt.Fprintf(&vm, "   <element name=\"%sResponse\">\n      <complexType>\n         <sequence>\n", m)
		if rv := reReturnval.FindStringSubmatch(responses[m]); rv != nil {
			typ, optional, many := goTextType(g, rv[1])
			if rv[2] != "" {
				optional = true
			}
			element(&vm, "            ", "returnval", typ, optional, many)
		}
		vm.WriteString("         </sequence>\n      </complexType>\n   </element>\n")
	}
	vm.WriteString("</schema>\n")

	var w bytes.Buffer
	w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by bench/peer (benchpeer wsdl) from govmomi's vim25 Go types, for benchmarks only. -->
<definitions targetNamespace="urn:vim25" xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:vim25="urn:vim25" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
   <types>
      <schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:vim25" elementFormDefault="qualified">
         <include schemaLocation="vim-messages.xsd"/>
      </schema>
   </types>
`)
	for _, m := range methods {
		fmt.Fprintf(&w, "   <message name=\"%sRequestMsg\">\n      <part name=\"parameters\" element=\"vim25:%s\"/>\n   </message>\n", m, m)
		fmt.Fprintf(&w, "   <message name=\"%sResponseMsg\">\n      <part name=\"parameters\" element=\"vim25:%sResponse\"/>\n   </message>\n", m, m)
	}
	w.WriteString("   <portType name=\"VimPortType\">\n")
	for _, m := range methods {
		fmt.Fprintf(&w, "      <operation name=\"%s\">\n         <input message=\"vim25:%sRequestMsg\"/>\n         <output message=\"vim25:%sResponseMsg\"/>\n      </operation>\n", m, m, m)
	}
	w.WriteString("   </portType>\n   <binding name=\"VimBinding\" type=\"vim25:VimPortType\">\n      <soap:binding style=\"document\" transport=\"http://schemas.xmlsoap.org/soap/http\"/>\n")
	for _, m := range methods {
		fmt.Fprintf(&w, "      <operation name=\"%s\">\n         <soap:operation soapAction=\"urn:vim25/8.0.0.0\" style=\"document\"/>\n         <input><soap:body use=\"literal\"/></input>\n         <output><soap:body use=\"literal\"/></output>\n      </operation>\n", m)
	}
	w.WriteString("   </binding>\n</definitions>\n")

	svc := `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by bench/peer (benchpeer wsdl), for benchmarks only. -->
<definitions targetNamespace="urn:vimService" xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:interface="urn:vim25" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/">
   <import location="vim.wsdl" namespace="urn:vim25"/>
   <service name="VimService">
      <port binding="interface:VimBinding" name="VimPort">
         <soap:address location="https://localhost/sdk"/>
      </port>
   </service>
</definitions>
`
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		"vimService.wsdl":  []byte(svc),
		"vim.wsdl":         w.Bytes(),
		"vim-messages.xsd": vm.Bytes(),
		"vim-types.xsd":    vt.Bytes(),
	}
	for n, data := range files {
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wsdl: %d types, %d methods, %d bytes in %s\n", nTypes, len(methods),
		len(svc)+w.Len()+vm.Len()+vt.Len(), dir)
	return nil
}

// goTextType maps the Go source spelling of a Returnval field type.
func goTextType(g *gen, s string) (typ string, optional, many bool) {
	for {
		switch {
		case strings.HasPrefix(s, "*"):
			optional, s = true, s[1:]
			continue
		case strings.HasPrefix(s, "[]") && s != "[]byte":
			optional, many, s = true, true, s[2:]
			continue
		}
		break
	}
	switch s {
	case "string":
		return "xsd:string", optional, many
	case "bool":
		return "xsd:boolean", optional, many
	case "int32":
		return "xsd:int", optional, many
	case "int64":
		return "xsd:long", optional, many
	case "int16":
		return "xsd:short", optional, many
	case "byte", "int8":
		return "xsd:byte", optional, many
	case "[]byte":
		return "xsd:base64Binary", optional, many
	case "float32":
		return "xsd:float", optional, many
	case "float64":
		return "xsd:double", optional, many
	case "time.Time":
		return "xsd:dateTime", optional, many
	case "AnyType":
		return "xsd:anyType", optional, many
	}
	n := strings.TrimPrefix(s, "Base")
	if g.registered(n) {
		return "vim25:" + n, optional, many
	}
	if g.registered(s) {
		return "vim25:" + s, optional, many
	}
	return "xsd:anyType", optional, many
}

// ---------------------------------------------------------------------------
// Reverse proxy serving the WSDL.

func selfSigned(dir, keyType string) (*tls.Config, error) {
	var key crypto.Signer
	var err error
	switch keyType {
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		err = fmt.Errorf("-key-type %q: rsa2048 or ecdsa", keyType)
	}
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "benchpeer localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pemCert, 0o644); err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, nil
}

func proxyMain(args []string) {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	upstream := fs.String("upstream", "", "simulator URL, e.g. http://127.0.0.1:PORT/sdk")
	wsdlDir := fs.String("wsdl", "", "directory of the generated WSDL")
	stateDir := fs.String("state-dir", "", "where to write proxy.json (and ca.pem with -tls)")
	useTLS := fs.Bool("tls", false, "serve HTTPS")
	keyType := fs.String("key-type", "ecdsa", "key of the HTTPS certificate: ecdsa (P-256) or rsa2048")
	_ = fs.Parse(args)
	if *upstream == "" || *wsdlDir == "" || *stateDir == "" {
		log.Fatal("proxy: -upstream, -wsdl and -state-dir are required")
	}
	up, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	// Not httputil.ReverseProxy: it streams the upstream body and aborts
	// it when the incoming request's context ends; here every exchange is
	// buffered whole and forwarded with a Content-Length, independently of
	// the client connection, so the proxy itself can never cut a reply.
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute},
		Timeout:   2 * time.Minute,
	}
	var clientGone int64
	forward := func(w http.ResponseWriter, r *http.Request) (int64, error) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return 0, err
		}
		u := *up
		u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
		req, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		for k, v := range r.Header {
			switch http.CanonicalHeaderKey(k) {
			case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Content-Length":
				continue
			}
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		if r.Context().Err() != nil {
			atomic.AddInt64(&clientGone, 1)
			log.Printf("client %s went away during %s %s", r.RemoteAddr, r.Method, r.URL.Path)
		}
		for k, v := range resp.Header {
			switch http.CanonicalHeaderKey(k) {
			case "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length":
				continue
			}
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(resp.StatusCode)
		n, err := w.Write(data)
		return int64(n), err
	}

	var wsdlGets, wsdlBytes, soapPosts, soapReqBytes, soapRespBytes int64
	mux := http.NewServeMux()
	mux.HandleFunc("/bench/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "{\"wsdl_gets\":%d,\"wsdl_bytes\":%d,\"soap_posts\":%d,\"soap_request_bytes\":%d,\"soap_response_bytes\":%d,\"client_gone\":%d}\n",
			atomic.LoadInt64(&wsdlGets), atomic.LoadInt64(&wsdlBytes), atomic.LoadInt64(&soapPosts),
			atomic.LoadInt64(&soapReqBytes), atomic.LoadInt64(&soapRespBytes), atomic.LoadInt64(&clientGone))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/sdk/") {
			name := strings.TrimPrefix(r.URL.Path, "/sdk/")
			if !strings.Contains(name, "/") && (strings.HasSuffix(name, ".wsdl") || strings.HasSuffix(name, ".xsd")) {
				p := filepath.Join(*wsdlDir, name)
				if st, err := os.Stat(p); err == nil {
					atomic.AddInt64(&wsdlGets, 1)
					atomic.AddInt64(&wsdlBytes, st.Size())
					w.Header().Set("Content-Type", "text/xml; charset=utf-8")
					http.ServeFile(w, r, p)
					return
				}
			}
		}
		if r.Method == http.MethodPost {
			atomic.AddInt64(&soapPosts, 1)
			if r.ContentLength > 0 {
				atomic.AddInt64(&soapReqBytes, r.ContentLength)
			}
		}
		n, err := forward(w, r)
		atomic.AddInt64(&soapRespBytes, n)
		if err != nil {
			log.Printf("forwarding %s %s: %v", r.Method, r.URL.Path, err)
			if n == 0 {
				http.Error(w, err.Error(), http.StatusBadGateway)
			}
		}
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	scheme := "http"
	if *useTLS {
		cfg, err := selfSigned(*stateDir, *keyType)
		if err != nil {
			log.Fatal(err)
		}
		ln = tls.NewListener(ln, cfg)
		scheme = "https"
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: mux}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	info, _ := json.Marshal(map[string]interface{}{
		"port": port, "pid": os.Getpid(),
		"url": fmt.Sprintf("%s://127.0.0.1:%d/sdk", scheme, port),
	})
	tmp := filepath.Join(*stateDir, "proxy.json.tmp")
	if err := os.WriteFile(tmp, append(info, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(*stateDir, "proxy.json")); err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = os.Remove(filepath.Join(*stateDir, "proxy.json"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
