package tls

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	ctls "crypto/tls"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// TestTags checks that every facts field has json and expr tags with the same name.
func TestTags(t *testing.T) {
	var walk func(typ reflect.Type)
	walk = func(typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			fld := typ.Field(i)
			j, _, _ := strings.Cut(fld.Tag.Get("json"), ",")
			e := fld.Tag.Get("expr")
			if e == "" || j != e && j != "-" {
				t.Errorf("%s.%s: json %q expr %q", typ.Name(), fld.Name, j, e)
			}
			ft := fld.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath() && ft.Name() != "Event" {
				walk(ft)
			}
		}
	}
	walk(reflect.TypeOf(flow.TLSFacts{}))
}

// TestJSON checks the output shape the NDJSON writer will produce for a TLS 1.2 handshake.
func TestJSON(t *testing.T) {
	cfg := &ctls.Config{MaxVersion: ctls.VersionTLS12, CipherSuites: []uint16{ctls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	f, _ := replay(t, 636, handshake(t, makeCert(t, 2048, notBefore, notAfter), cfg, cfg))
	b, err := json.Marshal(f.TLS)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	srv, _ := m["server"].(map[string]any)
	x, _ := srv["x509"].(map[string]any)
	subj, _ := x["subject"].(map[string]any)
	if m["version"] != "1.2" || m["cipher"] != "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" || m["established"] != true ||
		srv["not_after"] != "2040-01-01T00:00:00Z" || x["public_key_size"] != 2048.0 ||
		!reflect.DeepEqual(subj["common_name"], []any{"ldap.example.com"}) || m["name_matches_sni"] != true {
		t.Errorf("%s", b)
	}
	for _, absent := range []string{"client_hello", "server_hello", "certificate", "alerts", "resumed"} {
		if _, ok := m[absent]; ok {
			t.Errorf("%q in output: %s", absent, b)
		}
	}
	// A flow with only a ClientHello has no server object.
	g, _ := replay(t, 636, []chunk{{flow.FromClient, clientHello12}})
	b, _ = json.Marshal(g.TLS)
	if strings.Contains(string(b), `"server"`) || !strings.Contains(string(b), `"server_name":"ldap.example.com"`) {
		t.Errorf("%s", b)
	}
}
