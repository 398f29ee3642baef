package classify_test

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/classify"
	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
)

// expectation is what the projects that published a capture say about it, for our five
// labels (transcribed from the "expected" column of MANIFEST.tsv): labels that must appear
// (with the least number of flows), labels that must not.
type expectation struct {
	want   map[flow.Label]int
	forbid []flow.Label
	// gap names a known limitation (for example a tunnel not yet decoded): the capture is
	// audited (no crash) but its labels are not held against us.
	gap string
}

var (
	ours = []flow.Label{flow.NTP, flow.SIP, flow.SIPTLS, flow.LDAP, flow.LDAPS}
	none = ours
)

func want(l flow.Label, n int) map[flow.Label]int { return map[flow.Label]int{l: n} }

var expectations = map[string]expectation{
	"ndpi/NTPv2.pcap":                            {want: want(flow.NTP, 1)},
	"ndpi/NTPv4.pcap":                            {want: want(flow.NTP, 1)},
	"zeek/Traces/ntp/ntp.pcap":                   {want: want(flow.NTP, 1), forbid: []flow.Label{flow.SIP, flow.LDAP}},
	"zeek/Traces/ntp/NTP_sync.pcap":              {want: want(flow.NTP, 5)},
	"zeek/Traces/ntp/ntpmode67.pcap":             {want: want(flow.NTP, 1)},
	"zeek/Traces/ntp/ntp-no-extensions-mac.pcap": {}, // malformed: no crash is what counts
	"zeek/Traces/ntp.pcap":                       {want: want(flow.NTP, 1)},
	"tcpdump/ntp.pcap":                           {want: want(flow.NTP, 1)},
	"tcpdump/ntp-time.pcap":                      {want: want(flow.NTP, 1)},
	"tcpdump/ntp-time-ef.pcap":                   {want: want(flow.NTP, 1)},
	"suricata-verify/ntp-keywords/input.pcap":    {want: want(flow.NTP, 1)},
	"ipfixprobe/inputs/ntp.pcap":                 {want: want(flow.NTP, 1)},
	"pcapplusplus/Ntp.pcap":                      {want: want(flow.NTP, 1)},
	"nts-ke-dissector/ntske-sample-dsb.pcapng":   {forbid: none},
	"ndpi/sip.pcap":                              {want: want(flow.SIP, 2)},
	"zeek/Traces/sip/wireshark.pcap":             {want: want(flow.SIP, 1)},
	"ndpi/sip_hello.pcapng":                      {want: want(flow.SIP, 1)},
	"ndpi/FAX-Call-t38-CA-TDM-SIP-FB-1.pcap":     {want: want(flow.SIP, 3)},
	"ndpi/http_on_sip_port.pcap":                 {forbid: none},
	"ndpi/gre.pcapng":                            {want: want(flow.SIP, 1)},
	// A REGISTER start line without the headers every SIP message carries: labelled, not
	// certain (see classify/sip's corpus test).
	"zeek/Traces/sip/sip-junk-before-request.pcap":             {want: want(flow.SIP, 1)},
	"suricata-verify/sip-tcp-method/sip-tcp.pcap":              {want: want(flow.SIP, 1)},
	"suricata-verify/sip-body-large/sip-body-large.pcap":       {want: want(flow.SIP, 1)},
	"suricata-verify/sip-compact-form/sip_compact_form.pcap":   {want: want(flow.SIP, 1)},
	"suricata-verify/sip-options-method/input.pcap":            {want: want(flow.SIP, 1)},
	"pcapplusplus/sip_non_default_port.pcap":                   {want: want(flow.SIP, 1)},
	"pcapplusplus/sip_reqs.pcap":                               {want: want(flow.SIP, 1)},
	"pcapplusplus/sip_resp.pcap":                               {want: want(flow.SIP, 1)},
	"sngrep/ipip.pcap":                                         {want: want(flow.SIP, 1)},
	"heplify/sip_ipv4_tcp.pcap":                                {want: want(flow.SIP, 1)},
	"heplify/sip_ipv4_tcp_retrans.pcap":                        {want: want(flow.SIP, 2)},
	"heplify/sip_ipv6_udp.pcap":                                {want: want(flow.SIP, 1)},
	"heplify/sip_sctp.pcap":                                    {forbid: none}, // SIP over SCTP is not followed
	"heplify/erspan_sip_ipv4_udp.pcapng":                       {want: want(flow.SIP, 1)},
	"ipfixprobe/inputs/sip.pcap":                               {want: want(flow.SIP, 1)},
	"ndpi/synscan.pcap":                                        {forbid: none},
	"zeek/Traces/ldap/simpleauth.pcap":                         {want: want(flow.LDAP, 1)},
	"zeek/Traces/ldap/ldap-starttls.pcap":                      {want: want(flow.LDAP, 1)},
	"zeek/Traces/ldap/ldap-who-am-i.pcap":                      {want: want(flow.LDAP, 1)},
	"zeek/Traces/ldap/ldap-add.pcap":                           {want: want(flow.LDAP, 1)},
	"zeek/Traces/ldap/sasl-ntlm.pcap":                          {want: want(flow.LDAP, 1)},
	"zeek/Traces/ldap/sasl-srp-who-am-i.pcap":                  {want: want(flow.LDAP, 1)},
	"zeek/Traces/ldap/aduser1.pcap":                            {want: want(flow.LDAP, 1)},
	"zeek/Traces/ldap/ldap_invalid_credentials.pcap":           {want: want(flow.LDAP, 1)},
	"zeek/Traces/ldap/ctu-sme-11-win7ad-1-ldap-tcp-50041.pcap": {want: want(flow.LDAP, 2)},
	"suricata-verify/ldap-bind/ldap.pcap":                      {want: want(flow.LDAP, 1)},
	"suricata-verify/ldap-search/ldap.pcap":                    {want: want(flow.LDAP, 1)},
	"suricata-verify/ldap-unbind/ldap.pcap":                    {want: want(flow.LDAP, 1)},
	"suricata-verify/krb5-request-frag-log/krb5-frag.pcap":     {want: want(flow.LDAP, 1)},
	"arkime/ldap-and-search.pcap":                              {want: want(flow.LDAP, 1)},
	"pcapplusplus/ldap.pcapng":                                 {want: want(flow.LDAP, 1)},
	"ndpi/kerberos.pcap":                                       {want: want(flow.LDAP, 1)},
	"ndpi/log4j-webapp-exploit.pcap":                           {want: want(flow.LDAP, 1)},
	"suricata-verify/ldap-udp/cldap.pcap":                      {want: want(flow.LDAP, 1)},
	"arkime/openssl-ssl3.pcap":                                 {forbid: none},
	"arkime/openssl-tls1_1.pcap":                               {forbid: none},
	"arkime/openssl-tls1_2-tls1.pcap":                          {forbid: none},
	"ndpi/443-chrome.pcap":                                     {forbid: none},
	"ndpi/443-curl.pcap":                                       {forbid: none},
	"ndpi/dns.pcap":                                            {forbid: none},
	"ndpi/http_ipv6.pcap":                                      {forbid: none},
	"ndpi/tls_certificate_too_long.pcap":                       {want: want(flow.NTP, 4), forbid: []flow.Label{flow.SIP, flow.SIPTLS, flow.LDAP, flow.LDAPS}},
	"zeek/Traces/pcapng-multi-interface.pcapng":                {forbid: none},
	"zeek/Traces/linux_dlt_sll2.pcap":                          {forbid: none},
	"zeek/Traces/http-vlan-0.pcap":                             {forbid: none},
	"suricata-verify/eve-flow-vlan/input.pcap":                 {forbid: none},
	"suricata-verify/ipv4-truncated/truncated.pcap":            {forbid: none},
	"zeek/Traces/ipv6-fragmented-dns.pcap":                     {forbid: none},
	"ndpi/ip_fragmented_garbage.pcap":                          {forbid: none},
}

// labelsOf audits one capture and counts flows by label.
func labelsOf(t *testing.T, path string) (counts [flow.NumLabels]int, st classify.Stats) {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer src.Close()
	cfg := classify.DefaultConfig()
	cfg.Detectors = classify.Detectors(nil)
	e := classify.New(cfg, func(r *flow.Record) { counts[r.Label]++ })
	var p capture.Packet
	for {
		err := src.Next(&p)
		if err != nil {
			var te *capture.TruncatedError
			if !errors.Is(err, io.EOF) && !errors.As(err, &te) {
				t.Errorf("%s: %v", path, err)
			}
			break
		}
		e.Packet(&p)
	}
	e.Flush()
	return counts, e.Stats()
}

// TestCorpusLabels audits every capture in the shared corpus and compares the labels with
// what the projects that published them expect. It logs the agreement.
func TestCorpusLabels(t *testing.T) {
	dir := corpustest.Dir(t)
	agree, total, gaps := 0, 0, 0
	for _, cols := range corpustest.Manifest(t, dir) {
		if len(cols) < 9 || cols[6] == "-" {
			continue
		}
		path := cols[0]
		exp, ok := expectations[path]
		if !ok {
			t.Errorf("%s: capture in the manifest without an expectation here", path)
			continue
		}
		counts, st := labelsOf(t, filepath.Join(dir, path))
		if st.Panics > 0 {
			t.Errorf("%s: %d detector panics", path, st.Panics)
		}
		if exp.gap != "" {
			gaps++
			t.Logf("%s: known gap (%s); labels %v", path, exp.gap, counts)
			continue
		}
		total++
		ok = true
		for l, n := range exp.want {
			if counts[l] < n {
				t.Errorf("%s: %d %s flows, want at least %d (labels %v)", path, counts[l], l, n, counts)
				ok = false
			}
		}
		for _, l := range exp.forbid {
			if _, wanted := exp.want[l]; !wanted && counts[l] > 0 {
				t.Errorf("%s: %d %s flows, want none (labels %v)", path, counts[l], l, counts)
				ok = false
			}
		}
		if ok {
			agree++
		}
	}
	t.Logf("corpus agreement: %d of %d captures as their projects expect (%d known gaps)", agree, total, gaps)
}
