#!/usr/bin/env bash
# record-real.sh — record real LDAP, SIP and NTP servers talking on loopback
# and write one small capture per scenario into testdata/real/.
#
# Everything runs inside a private network namespace that this script creates
# (pcapaudit-rec-<pid>) and deletes on exit: the servers (slapd, kamailio,
# ntpd), the clients (ldapsearch, sipsak, openssl s_client, ntpdig, ntpq) and
# tcpdump only ever see that namespace's loopback interface, so no packet
# leaves 127.0.0.0/8. Every client call is bounded by `timeout`, every
# tcpdump by a packet count and a timeout.
#
# Usage: sudo testdata/scripts/record-real.sh [--no-install] [--keep-tmp] [NAME...]
#   --no-install  do not install missing Debian packages, fail instead
#   --keep-tmp    keep the temporary directory (configs, server logs)
#   NAME...       record only these scenarios (file names without .pcap);
#                 the others keep their files
#
# Needs root: it creates a network namespace, runs tcpdump and starts servers
# on privileged ports. It writes only to a fresh temporary directory and to
# testdata/real/ (the .pcap files it names below). Safe to rerun: each run
# starts from scratch and overwrites the same files.
set -Eeuo pipefail

INSTALL=1
KEEP_TMP=0
ONLY=()
for arg in "$@"; do
	case "$arg" in
	--no-install) INSTALL=0 ;;
	--keep-tmp) KEEP_TMP=1 ;;
	-h | --help)
		sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "record-real.sh: unknown argument: $arg" >&2
		exit 2
		;;
	*) ONLY+=("$arg") ;;
	esac
done

if [[ $(id -u) -ne 0 ]]; then
	echo "record-real.sh: must run as root (network namespace, tcpdump, servers on ports 123/389/636)" >&2
	exit 1
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF=$HERE/real
OUT=$(cd "$HERE/.." && pwd)/real
NS=pcapaudit-rec-$$
T=
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_CREATED=0
FAILED=()
DONE=()

log() { printf '[record-real] %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if ip netns list 2>/dev/null | grep -qw "^$NS"; then
		# Only the processes inside our own namespace: servers, clients, tcpdump.
		local pids
		pids=$(ip netns pids "$NS" 2>/dev/null)
		if [[ -n $pids ]]; then
			# shellcheck disable=SC2086
			kill $pids 2>/dev/null
			sleep 1
			pids=$(ip netns pids "$NS" 2>/dev/null)
			# shellcheck disable=SC2086
			[[ -n $pids ]] && kill -9 $pids 2>/dev/null
		fi
		ip netns del "$NS" 2>/dev/null
	fi
	rm -rf "/etc/netns/$NS"

	if [[ $POLICY_RC_CREATED == 1 ]]; then
		rm -f "$POLICY_RC"
	fi
	if [[ -n $T && -d $T ]]; then
		if [[ $KEEP_TMP == 1 ]]; then
			log "temporary directory kept: $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- packages
PACKAGES=(iproute2 openssl tcpdump tshark slapd ldap-utils sasl2-bin libsasl2-modules
	kamailio kamailio-tls-modules sipsak ntpsec ntpsec-ntpdig faketime)

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	if [[ $INSTALL == 0 ]]; then
		log "missing packages: ${missing[*]} (rerun without --no-install)"
		exit 1
	fi
	log "installing: ${missing[*]}"
	# Keep the packages' own services from starting outside the namespace
	# while they are installed: this script runs its own instances.
	if [[ ! -e $POLICY_RC ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
		chmod 755 "$POLICY_RC"
		POLICY_RC_CREATED=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	if [[ $POLICY_RC_CREATED == 1 ]]; then
		rm -f "$POLICY_RC"
		POLICY_RC_CREATED=0
	fi
}
install_packages

T=$(mktemp -d "${TMPDIR:-/tmp}/pcapaudit-rec.XXXXXX")
chmod 755 "$T"
mkdir -p "$OUT"

# --------------------------------------------------------------- namespace
ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
# The name a TLS client asks for (SNI): `ip netns exec` shows this file as
# the namespace's /etc/hosts (the host's entries plus ours).
mkdir -p "/etc/netns/$NS"
{ cat /etc/hosts; printf '127.0.0.3 ldap.example.test\n127.0.0.4 directory.example.test\n'; } >"/etc/netns/$NS/hosts"

# Clients read no user or system ldap.conf: only ours.
export HOME=$T
export LDAPCONF=$T/ldap.conf
export LDAPRC=$T/ldaprc.none

render() { # render TEMPLATE OUTPUT [NAME [TLSPREFIX [CERT [CIPHERS]]]]
	sed -e "s|@TMP@|$T|g" -e "s|@NAME@|${3:-main}|g" -e "s|@TLS@|${4:-}|g" \
		-e "s|@CERT@|${5:-server}|g" -e "s|@CIPHERS@|${6:-NORMAL}|g" "$1" >"$2"
}

wait_for() { # wait_for SECONDS command...
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= end)); then
			return 1
		fi
		sleep 0.2
	done
}

# record NAME COUNT FILTER -- client command...
# Starts tcpdump on the namespace's loopback, runs the client, waits for the
# last packets and stops tcpdump; the capture lands in $OUT/NAME.pcap.
record() {
	local name=$1 count=$2 filter=$3
	shift 4
	if [[ ${#ONLY[@]} -gt 0 && " ${ONLY[*]} " != *" $name "* ]]; then
		return 0
	fi
	DONE+=("$name")
	local pcap=$T/$name.pcap tlog=$T/$name.tcpdump.log
	rm -f "$pcap"
	# Started directly (not through a shell function) so that $! is the
	# timeout process itself, which passes our SIGINT on to tcpdump.
	ip netns exec "$NS" timeout 60 tcpdump -Z root -i lo -U -s 0 -c "$count" -w "$pcap" "$filter" 2>"$tlog" &
	local tpid=$!
	if ! wait_for 10 grep -q 'listening on' "$tlog"; then
		log "$name: tcpdump did not start: $(cat "$tlog")"
		kill "$tpid" 2>/dev/null || true
		FAILED+=("$name")
		return 0
	fi
	sleep 0.3
	local rc=0
	"$@" >"$T/$name.client.log" 2>&1 || rc=$?
	sleep 1
	kill -INT "$tpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
	local n
	n=$(tshark -r "$pcap" 2>/dev/null | wc -l || echo 0)
	if [[ ! -s $pcap || $n -eq 0 ]]; then
		log "$name: nothing captured (client exit $rc)"
		FAILED+=("$name")
		return 0
	fi
	cp "$pcap" "$OUT/$name.pcap"
	log "$name: $n packets, $(stat -c %s "$OUT/$name.pcap") bytes (client exit $rc)"
}

# -------------------------------------------------------------- credentials
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 \
	-keyout "$T/server.key" -out "$T/server.crt" \
	-subj "/CN=localhost/O=pcapaudit recording" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
# A certificate with everything wrong at once, for the server on 127.0.0.3:
# RSA 1024, expired (2020-01-01 to 2021-01-01, made under faketime), and
# named oldhost.example.org while clients ask for ldap.example.test.
faketime '2020-01-01 00:00:00' openssl req -x509 -newkey rsa:1024 -sha256 -nodes -days 366 \
	-keyout "$T/weak.key" -out "$T/weak.crt" \
	-subj "/CN=oldhost.example.org/O=pcapaudit recording" \
	-addext "subjectAltName=DNS:oldhost.example.org" 2>/dev/null
# A certificate done right, for the server on 127.0.0.4: issued by a CA of its
# own (which the client trusts), RSA 2048, named as the client asks.
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 \
	-keyout "$T/ca.key" -out "$T/ca.crt" -subj "/CN=pcapaudit recording CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$T/good.key" -out "$T/good.csr" \
	-subj "/CN=directory.example.test/O=pcapaudit recording" 2>/dev/null
printf 'subjectAltName=DNS:directory.example.test\nextendedKeyUsage=serverAuth\n' >"$T/good.ext"
openssl x509 -req -in "$T/good.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
	-days 3650 -sha256 -extfile "$T/good.ext" -out "$T/good.crt" 2>/dev/null
chmod 600 "$T/server.key" "$T/weak.key" "$T/ca.key" "$T/good.key"
cat >"$T/ldap.conf" <<EOF
TLS_CACERT $T/server.crt
TLS_REQCERT demand
EOF

# -------------------------------------------------------------------- slapd
# main: 127.0.0.1 on 389 (ldap), 636 (ldaps) and 10389 (ldap, non-standard),
# with TLS for StartTLS and LDAPS.
# notls: 127.0.0.2:389 without any TLS configuration, so StartTLS fails.
start_slapd() { # start_slapd NAME TLSPREFIX URLS [CERT [CIPHERS]]
	local name=$1
	render "$CONF/slapd.conf.in" "$T/slapd-$name.conf" "$name" "$2" "${4:-server}" "${5:-NORMAL}"
	mkdir -p "$T/db-$name"
	slapadd -q -f "$T/slapd-$name.conf" -l "$CONF/base.ldif"
	nsx slapd -h "$3" -f "$T/slapd-$name.conf"
	wait_for 10 test -s "$T/slapd-$name.pid" || die "slapd $name did not start"
}
start_slapd main "" "ldap://127.0.0.1:389/ ldaps://127.0.0.1:636/ ldap://127.0.0.1:10389/"
start_slapd notls "#" "ldap://127.0.0.2:389/"
# weak: LDAPS on 127.0.0.3 with the bad certificate, also willing to use 3DES.
start_slapd weak "" "ldaps://127.0.0.3:636/" weak "NORMAL:+3DES-CBC:+RSA:+SHA1"
# good: LDAPS on 127.0.0.4 with the CA-issued certificate.
start_slapd good "" "ldaps://127.0.0.4:636/" good
wait_for 10 nsx timeout 3 ldapsearch -x -H ldap://127.0.0.1 -b "" -s base namingContexts ||
	die "slapd main does not answer"
wait_for 10 nsx timeout 3 ldapsearch -x -H ldap://127.0.0.2 -b "" -s base namingContexts ||
	die "slapd notls does not answer"
log "slapd up"

BASE=dc=example,dc=org
ADMIN=cn=admin,$BASE
ALICE=uid=alice,ou=people,$BASE
ldap() { nsx timeout 10 ldapsearch "$@"; }
# ldap_tls PRIORITY args...: libldap here uses GnuTLS, so the client's TLS
# versions and key exchanges are chosen with a GnuTLS priority string.
ldap_tls() {
	local prio=$1
	shift
	LDAPTLS_CIPHER_SUITE=$prio nsx timeout 10 ldapsearch "$@"
}

record ldap-simple-bind 60 'tcp port 389' -- \
	ldap -x -H ldap://127.0.0.1 -D "$ADMIN" -w adminpass -b "$BASE" '(uid=alice)' cn mail
record ldap-anonymous-search 60 'tcp port 389' -- \
	ldap -x -H ldap://127.0.0.1 -b "$BASE" '(objectClass=inetOrgPerson)' cn mail
record ldap-unauthenticated-bind 60 'tcp port 389' -- \
	ldap -x -H ldap://127.0.0.1 -D "$ALICE" -w '' -b "$BASE" '(uid=alice)' cn
record ldap-sasl-plain 60 'tcp port 389' -- \
	ldap -Y PLAIN -O none -U alice -w alicepass -H ldap://127.0.0.1 -b "$BASE" '(uid=alice)' cn
record ldap-sasl-digest-md5 60 'tcp port 389' -- \
	ldap -Y DIGEST-MD5 -U alice -w alicepass -H ldap://127.0.0.1 -b "$BASE" '(uid=alice)' cn
record ldap-starttls 80 'tcp port 389' -- \
	ldap -ZZ -x -H ldap://127.0.0.1 -D "$ADMIN" -w adminpass -b "$BASE" '(uid=alice)' cn
record ldap-starttls-failed 60 'tcp port 389' -- \
	ldap -Z -x -H ldap://127.0.0.2 -b "$BASE" '(uid=alice)' cn mail

failed_binds() {
	local i
	for i in 1 2 3 4 5; do
		ldap -x -H ldap://127.0.0.1 -D "$ALICE" -w "wrongpass$i" -b "$BASE" '(uid=alice)' cn || true
	done
}
record ldap-bind-failures 120 'tcp port 389' -- failed_binds

record ldap-port-10389 60 'tcp port 10389' -- \
	ldap -x -H ldap://127.0.0.1:10389 -b "$BASE" '(uid=alice)' cn mail

record ldaps-tls12 80 'tcp port 636' -- \
	ldap_tls 'NORMAL:-VERS-ALL:+VERS-TLS1.2' -x -H ldaps://127.0.0.1 -D "$ADMIN" -w adminpass -b "$BASE" '(uid=alice)' cn
record ldaps-tls13 80 'tcp port 636' -- \
	ldap_tls 'NORMAL:-VERS-ALL:+VERS-TLS1.3' -x -H ldaps://127.0.0.1 -D "$ADMIN" -w adminpass -b "$BASE" '(uid=alice)' cn
record ldaps-tls10 80 'tcp port 636' -- \
	ldap_tls 'NORMAL:-VERS-ALL:+VERS-TLS1.0' -x -H ldaps://127.0.0.1 -b "$BASE" '(uid=alice)' cn
record ldaps-tls12-rsa-kx 80 'tcp port 636' -- \
	ldap_tls 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA' -x -H ldaps://127.0.0.1 -b "$BASE" '(uid=alice)' cn
# The bad server: TLS 1.2, 3DES with RSA key exchange, the expired RSA-1024
# certificate for another name. The client asks for ldap.example.test (its
# SNI) and, like a careless client, does not verify the certificate.
record ldaps-weak-server 80 'tcp port 636' -- \
	env LDAPTLS_REQCERT=never LDAPTLS_CIPHER_SUITE='NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+3DES-CBC:-KX-ALL:+RSA:+SHA1' \
	ip netns exec "$NS" timeout 10 ldapsearch -x -H ldaps://ldap.example.test -b "$BASE" '(uid=alice)' cn

# The good server, verified by the client against the CA: TLS 1.2 (so the
# certificate is visible) with ECDHE.
record ldaps-ca-signed 80 'tcp port 636' -- \
	env LDAPTLS_CACERT="$T/ca.crt" LDAPTLS_REQCERT=demand LDAPTLS_CIPHER_SUITE='NORMAL:-VERS-ALL:+VERS-TLS1.2' \
	ip netns exec "$NS" timeout 10 ldapsearch -x -H ldaps://directory.example.test -b "$BASE" '(uid=alice)' cn

# A Kerberoasting-style search for service principal names (anonymous).
record ldap-spn-search 60 'tcp port 389' -- \
	ldap -x -H ldap://127.0.0.1 -b "$BASE" '(servicePrincipalName=*)' servicePrincipalName

# Password Modify extended operation (RFC 3062) in cleartext: alice sets her
# password to the same value, so the directory is unchanged; last of the LDAP
# scenarios because slapd stores the new value hashed.
record ldap-passwd-modify 60 'tcp port 389' -- \
	nsx timeout 10 ldappasswd -x -H ldap://127.0.0.1 -D "$ALICE" -w alicepass -a alicepass -s alicepass

# ----------------------------------------------------------------- kamailio
render "$CONF/kamailio.cfg.in" "$T/kamailio.cfg"
render "$CONF/kamailio-tls.cfg.in" "$T/kamailio-tls.cfg"
mkdir -p "$T/kamailio-run"
nsx kamailio -f "$T/kamailio.cfg" -P "$T/kamailio.pid" -Y "$T/kamailio-run" -w "$T" \
	>"$T/kamailio.log" 2>&1
wait_for 10 test -s "$T/kamailio.pid" || die "kamailio did not start: $(tail -5 "$T/kamailio.log")"
wait_for 10 nsx timeout 3 sipsak -s sip:probe@127.0.0.1 || die "kamailio does not answer"
log "kamailio up"

sip() { nsx timeout 15 sipsak "$@"; }

# Digest REGISTER over UDP: REGISTER, 401 with the challenge, REGISTER with
# Authorization: Digest (password "sippass"), 200 OK.
record sip-register-digest-udp 40 'udp port 5060' -- \
	sip -U -i -C sip:alice@127.0.0.1:5070 -l 5070 -s sip:alice@127.0.0.1 -u alice -a sippass
record sip-options-tcp 40 'tcp port 5060' -- \
	sip -E tcp -s sip:ping@127.0.0.1
record sip-options-udp-5080 40 'port 5080' -- \
	sip -s sip:ping@127.0.0.1:5080

# sipsak here is built without TLS: a SIP-over-TLS client is openssl s_client
# fed an OPTIONS and an unauthenticated REGISTER (answered 200 and 401).
sipreq() { # sipreq METHOD URI CSEQ CALLID
	printf '%s %s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5071;branch=z9hG4bK-%s-%s;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=tls%s\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: %s@127.0.0.1\r\nCSeq: %s %s\r\nContact: <sip:alice@127.0.0.1:5071;transport=tls>\r\nUser-Agent: openssl-s_client\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n' \
		"$1" "$2" "$4" "$3" "$3" "$4" "$3" "$1"
}
sip_tls() {
	{
		sipreq OPTIONS sip:127.0.0.1:5061 1 tls-options
		sleep 0.5
		sipreq REGISTER sip:127.0.0.1:5061 2 tls-register
		sleep 1
	} | nsx timeout 10 openssl s_client -connect 127.0.0.1:5061 -servername localhost \
		-tls1_2 -quiet -no_ign_eof -nocommands
}
record sip-tls-5061 60 'tcp port 5061' -- sip_tls

# An INVITE whose SDP offers SRTP with its SDES key (a=crypto) in cleartext UDP.
sip_invite_crypto() {
	local sdp msg
	sdp=$(printf 'v=0\r\no=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoZXhpc3RzIHdoaWNo|2^20|1:32\r\na=rtpmap:0 PCMU/8000\r\n_')
	sdp=${sdp%_}
	msg=$(printf 'INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bK-invite-crypto;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=invite-crypto\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: invite-crypto@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5072>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s_' "${#sdp}" "$sdp")
	msg=${msg%_}
	printf '%s' "$msg" >"$T/invite.sip"
	sip -i -l 5072 -f "$T/invite.sip" -s sip:bob@127.0.0.1
}
record sip-invite-srtp-sdes-udp 40 'udp port 5060' -- sip_invite_crypto

# An INVITE offering plain RTP/AVP media: the call's audio would be unencrypted.
sip_invite_rtp() {
	local sdp msg
	sdp=$(printf 'v=0\r\no=alice 2890844527 2890844527 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n_')
	sdp=${sdp%_}
	msg=$(printf 'INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5073;branch=z9hG4bK-invite-rtp;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=invite-rtp\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: invite-rtp@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5073>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s_' "${#sdp}" "$sdp")
	msg=${msg%_}
	printf '%s' "$msg" >"$T/invite-rtp.sip"
	sip -i -l 5073 -f "$T/invite-rtp.sip" -s sip:bob@127.0.0.1
}
record sip-invite-rtp-udp 40 'udp port 5060' -- sip_invite_rtp

# Password guessing: twelve digest REGISTERs for alice with wrong passwords,
# one sipsak run (one UDP socket) each, every one refused with 401.
register_guesses() {
	local i
	for i in $(seq 1 12); do
		sip -U -i -C sip:alice@127.0.0.1:5074 -s sip:alice@127.0.0.1 -u alice -a "guess$i" || true
	done
}
record sip-register-bruteforce 80 'udp port 5060' -- register_guesses

# -------------------------------------------------------------------- ntpd
render "$CONF/ntp.conf.in" "$T/ntp.conf"
install -m 600 "$CONF/ntp.keys" "$T/ntp.keys"
nsx ntpd -n -c "$T/ntp.conf" -p "$T/ntpd.pid" >"$T/ntpd.out" 2>&1 &
wait_for 10 test -s "$T/ntpd.pid" || die "ntpd did not start: $(tail -5 "$T/ntpd.out")"
# Orphan mode needs a moment before the server answers as synchronised.
wait_for 20 sh -c "ip netns exec '$NS' timeout 3 ntpq -n -c 'rv 0 stratum' 127.0.0.1 </dev/null | grep -q 'stratum=8'" ||
	die "ntpd did not reach orphan stratum 8"
sleep 2
log "ntpd up"

record ntp-client 20 'udp port 123' -- \
	nsx timeout 10 ntpdig 127.0.0.1
record ntp-client-auth-md5 20 'udp port 123' -- \
	nsx timeout 10 ntpdig -k "$T/ntp.keys" -a 1 127.0.0.1
record ntp-client-auth-sha1 20 'udp port 123' -- \
	nsx timeout 10 ntpdig -k "$T/ntp.keys" -a 2 127.0.0.1
record ntp-mode6-rv-mrulist 60 'udp port 123' -- \
	sh -c "ip netns exec '$NS' timeout 10 ntpq -n -c rv -c mrulist 127.0.0.1 </dev/null"

# ------------------------------------------------------------------ summary
for name in "${ONLY[@]}"; do
	if [[ " ${DONE[*]} " != *" $name "* ]]; then
		log "no scenario named $name"
		FAILED+=("$name")
	fi
done
log "captures in $OUT:"
ls -l "$OUT"/*.pcap >&2
if [[ ${#FAILED[@]} -gt 0 ]]; then
	log "scenarios without a new capture (any older file of that name is stale): ${FAILED[*]}"
	exit 1
fi
