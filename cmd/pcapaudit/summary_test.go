package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// summaryInputs are recordings whose servers, roles and certificates testdata/real/README.md
// lists: LDAP on 127.0.0.1 and 127.0.0.2, LDAPS with an expired self-signed certificate on
// 127.0.0.3 and a CA-signed one on 127.0.0.4, NTP, SIP with a registrar, SIP over TLS.
func summaryInputs() []string {
	var in []string
	for _, n := range []string{"ldap-simple-bind", "ldap-starttls-failed", "ldaps-weak-server", "ldaps-ca-signed",
		"ldaps-tls13", "ntp-client", "sip-register-digest-udp", "sip-tls-5061"} {
		in = append(in, filepath.Join(repo, "testdata", "real", n+".pcap"))
	}
	return in
}

type jsonSummary struct {
	Flows    int
	Findings map[string]int
	Hosts    []struct {
		Address   string
		Roles     []string
		Protocols []string
		Flows     int
		Findings  map[string]int
	}
	Servers []struct {
		Protocol, Address string
		Flows, Clients    int
		TLSVersions       []string `json:"tls_versions"`
		TLSCiphers        []string `json:"tls_ciphers"`
		NTPVersions       []int    `json:"ntp_versions"`
		Registrar         bool     `json:"sip_registrar"`
		UserAgents        []string `json:"sip_user_agents"`
		ServerAgents      []string `json:"sip_server_agents"`
		TLSCertificates   []struct {
			Subject, Issuer string
			Self            bool   `json:"self_signed"`
			Exp             bool   `json:"expired"`
			NotAfter        string `json:"not_after"`
		} `json:"tls_certificates"`
	}
	SIPUserAgents []struct {
		Name, Role string
		Hosts      []string
	} `json:"sip_user_agents"`
	TopTalkers []string `json:"top_talkers"`
}

// TestSummaryJSON: the summary names the hosts with their roles, the servers of each
// protocol, what the TLS servers presented, the SIP registrar and user agents.
func TestSummaryJSON(t *testing.T) {
	r := runCmd(t, nil, append([]string{"summary", "-f", "json"}, summaryInputs()...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var s jsonSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if s.Flows != 8 {
		t.Errorf("flows %d, want 8 (one per recording)", s.Flows)
	}
	roles := map[string]string{}
	for _, h := range s.Hosts {
		roles[h.Address] = strings.Join(h.Roles, ",")
	}
	want := map[string]string{"127.0.0.1": "client,server", "127.0.0.2": "server", "127.0.0.3": "server", "127.0.0.4": "server"}
	if !mapsEqual(roles, want) {
		t.Errorf("hosts and roles %v, want %v", roles, want)
	}
	for _, h := range s.Hosts {
		// ldaps-weak-server: weak cipher (high); expired, self-signed, weak key (medium);
		// no forward secrecy, name mismatch (low).
		if h.Address == "127.0.0.3" && (h.Findings["high"] != 1 || h.Findings["medium"] != 3 || h.Findings["low"] != 2 || h.Findings["critical"] != 0) {
			t.Errorf("127.0.0.3 findings %v, want high 1, medium 3, low 2", h.Findings)
		}
		if h.Address == "127.0.0.4" && (h.Findings["high"]+h.Findings["medium"]+h.Findings["low"]+h.Findings["critical"] != 0 || h.Protocols[0] != "ldaps") {
			t.Errorf("127.0.0.4 (done right): %+v", h)
		}
	}
	servers := map[string]int{}
	for i, sv := range s.Servers {
		servers[sv.Protocol+" "+sv.Address] = i
	}
	for _, k := range []string{"ntp 127.0.0.1:123", "sip 127.0.0.1:5060", "sip-tls 127.0.0.1:5061", "ldap 127.0.0.1:389",
		"ldap 127.0.0.2:389", "ldaps 127.0.0.1:636", "ldaps 127.0.0.3:636", "ldaps 127.0.0.4:636"} {
		if _, ok := servers[k]; !ok {
			t.Errorf("server %s missing from %v", k, servers)
		}
	}
	if len(servers) != 8 {
		t.Errorf("servers %v, want 8", servers)
	}
	get := func(k string) int { return servers[k] }
	weak := s.Servers[get("ldaps 127.0.0.3:636")]
	if !slices.Equal(weak.TLSCiphers, []string{"TLS_RSA_WITH_3DES_EDE_CBC_SHA"}) || !slices.Equal(weak.TLSVersions, []string{"tls 1.2"}) {
		t.Errorf("weak server presented %v %v", weak.TLSVersions, weak.TLSCiphers)
	}
	if len(weak.TLSCertificates) != 1 || !strings.HasPrefix(weak.TLSCertificates[0].Subject, "CN=oldhost.example.org") ||
		!weak.TLSCertificates[0].Self || !weak.TLSCertificates[0].Exp || !strings.HasPrefix(weak.TLSCertificates[0].NotAfter, "2021-01-01") {
		t.Errorf("weak server certificate %+v, want CN=oldhost.example.org, self-signed, expired 2021-01-01", weak.TLSCertificates)
	}
	good := s.Servers[get("ldaps 127.0.0.4:636")]
	if len(good.TLSCertificates) != 1 || good.TLSCertificates[0].Issuer != "CN=pcapaudit recording CA" || good.TLSCertificates[0].Self || good.TLSCertificates[0].Exp {
		t.Errorf("CA-signed server certificate %+v", good.TLSCertificates)
	}
	if tls13 := s.Servers[get("ldaps 127.0.0.1:636")]; len(tls13.TLSCertificates) != 0 || !slices.Equal(tls13.TLSVersions, []string{"tls 1.3"}) {
		t.Errorf("TLS 1.3 server: %+v (its certificate is encrypted)", tls13)
	}
	sip := s.Servers[get("sip 127.0.0.1:5060")]
	if !sip.Registrar || !slices.Equal(sip.UserAgents, []string{"sipsak 0.9.8.1"}) || !slices.Equal(sip.ServerAgents, []string{"pcapaudit-rec kamailio"}) {
		t.Errorf("SIP server: %+v", sip)
	}
	if ntp := s.Servers[get("ntp 127.0.0.1:123")]; !slices.Equal(ntp.NTPVersions, []int{4}) {
		t.Errorf("NTP server versions %v", ntp.NTPVersions)
	}
	if len(s.SIPUserAgents) != 2 {
		t.Errorf("SIP user agents %+v, want the client's and the server's", s.SIPUserAgents)
	}
	if len(s.TopTalkers) != 4 || s.TopTalkers[0] != "127.0.0.1" {
		t.Errorf("top talkers %v", s.TopTalkers)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSummaryCSVAndText: the same facts in the CSV table and in the text tables.
func TestSummaryCSVAndText(t *testing.T) {
	r := runCmd(t, nil, append([]string{"summary", "-f", "csv"}, summaryInputs()...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := rows[0]
	col := func(row []string, name string) string {
		i := slices.Index(head, name)
		if i < 0 {
			t.Fatalf("no column %q in %v", name, head)
		}
		return row[i]
	}
	kinds := map[string]int{}
	var expired, registrar, hostRoles []string
	for _, row := range rows[1:] {
		kinds[col(row, "record")]++
		switch col(row, "record") {
		case "host":
			hostRoles = append(hostRoles, col(row, "address")+"="+col(row, "roles"))
		case "certificate":
			if col(row, "cert_expired") == "true" {
				expired = append(expired, col(row, "address")+" "+col(row, "cert_subject"))
			}
		case "server":
			if col(row, "sip_registrar") == "true" {
				registrar = append(registrar, col(row, "address")+":"+col(row, "port"))
			}
		}
	}
	if kinds["host"] != 4 || kinds["server"] != 8 || kinds["certificate"] != 3 || kinds["sip_user_agent"] != 2 {
		t.Errorf("rows by kind %v, want 4 hosts, 8 servers, 3 certificates (sip-tls, weak, CA-signed; TLS 1.3 hides its own), 2 SIP user agents", kinds)
	}
	if !slices.Equal(hostRoles, []string{"127.0.0.1=client; server", "127.0.0.2=server", "127.0.0.3=server", "127.0.0.4=server"}) {
		t.Errorf("host roles %v", hostRoles)
	}
	if len(expired) != 1 || !strings.HasPrefix(expired[0], "127.0.0.3 CN=oldhost.example.org") {
		t.Errorf("expired certificates %v", expired)
	}
	if !slices.Equal(registrar, []string{"127.0.0.1:5060"}) {
		t.Errorf("registrars %v", registrar)
	}

	r = runCmd(t, nil, append([]string{"summary"}, summaryInputs()...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"Hosts (4)", "127.0.0.2  server ", "Servers (8)", "registrar", `clients "sipsak 0.9.8.1"`,
		"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "CN=oldhost.example.org,O=pcapaudit recording", "2021-01-01",
		"EXPIRED when seen", "CN=pcapaudit recording CA", "SIP user agents", "Top talkers",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text summary lacks %q:\n%s", want, r.stdout)
		}
	}
	// Aligned: every row of the hosts table starts its ROLES column at the same place.
	lines := strings.Split(r.stdout, "\n")
	at := slices.Index(lines, "Hosts (4)")
	col0 := strings.Index(lines[at+1], "ROLES")
	for _, l := range lines[at+2 : at+6] {
		if c := strings.Index(l, "server"); c < col0 || strings.TrimSpace(l[col0-2:col0]) != "" {
			t.Errorf("hosts table not aligned at column %d: %q", col0, l)
		}
	}
}

// TestSummaryBadInput: a file that is not a capture is named and the others summarised; an
// output that cannot be written and a bad flag stop the command before it reads anything.
func TestSummaryBadInput(t *testing.T) {
	junk := writeFile(t, "notes.txt", []byte("this is not a capture\n"))
	good := filepath.Join(repo, "testdata", "real", "ntp-client.pcap")
	r := runCmd(t, nil, "summary", "-f", "json", junk, good)
	if r.code != 2 || !strings.Contains(r.stderr, junk) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("not a capture: exit %d, stderr %q (want 2 and one line naming the file)", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `"127.0.0.1:123"`) {
		t.Errorf("the good file was not summarised:\n%s", r.stdout)
	}

	missing := filepath.Join(t.TempDir(), "no-such-dir", "report.html")
	for _, args := range [][]string{
		{"summary", "--html", missing, good},
		{"--html", missing, good},
	} {
		r := runCmd(t, nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, missing) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing written, one line naming the path", args[:2], r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"summary", "--format", "xml", good},
		{"summary", "--top", "0", good},
		{"summary", "--max-hosts", "-1", good},
		{"summary", "--bogus", good},
		{"summary"},
	} {
		r := runCmd(t, nil, args...)
		if r.code != 2 || r.stdout != "" || r.stderr == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and nothing on stdout", args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestAuditHTML: --html on the audit writes the report beside the usual output and keeps
// the exit code.
func TestAuditHTML(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.html")
	r := runCmd(t, nil, "--html", out, filepath.Join(repo, "testdata", "real", "ldaps-weak-server.pcap"))
	if r.code != 1 || !strings.Contains(r.stdout, "tls.weak-cipher") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{"<svg", "tls.weak-cipher", "ip.addr==127.0.0.1 &amp;&amp; ip.addr==127.0.0.3 &amp;&amp; tcp.port==",
		"CN=oldhost.example.org", "Policy: default", "ldap.cleartext-password"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".report.html.*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
	// The summary writes the same report.
	out2 := filepath.Join(t.TempDir(), "summary.html")
	if r := runCmd(t, nil, "summary", "--html", out2, filepath.Join(repo, "testdata", "real", "ldaps-weak-server.pcap")); r.code != 0 {
		t.Fatalf("summary --html: exit %d: %s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(out2); err != nil || !strings.Contains(string(b), "tls.weak-cipher") {
		t.Errorf("summary --html: %v", err)
	}
}
