package ntp

// Names are constants so that recording a message never allocates.

// controlNames are the mode 6 opcodes (ntp_control.h, RFC 9327 §3).
var controlNames = [32]string{
	0:  "unspec",
	1:  "readstat",
	2:  "readvar",
	3:  "writevar",
	4:  "readclock",
	5:  "writeclock",
	6:  "setrap",
	7:  "asyncmsg",
	8:  "configure",
	9:  "saveconfig",
	10: "readmru",
	11: "readordlist",
	12: "reqnonce",
	31: "unsetrap",
}

// knownControl reports whether op is an opcode some implementation sends.
func knownControl(op uint8) bool { return op < 32 && op != 0 && controlNames[op] != "" }

func controlName(op uint8) string {
	if op < 32 && controlNames[op] != "" {
		return controlNames[op]
	}
	return "unknown"
}

// privateNames are the mode 7 request codes of ntpd's ntp_request.h.
var privateNames = [64]string{
	0:  "peer_list",
	1:  "peer_list_sum",
	2:  "peer_info",
	3:  "peer_stats",
	4:  "sys_info",
	5:  "sys_stats",
	6:  "io_stats",
	7:  "mem_stats",
	8:  "loop_info",
	9:  "timer_stats",
	10: "config",
	11: "unconfig",
	12: "set_sys_flag",
	13: "clr_sys_flag",
	14: "monitor",
	15: "nomonitor",
	16: "get_restrict",
	17: "resaddflags",
	18: "ressubflags",
	19: "unrestrict",
	20: "mon_getlist",
	21: "reset_stats",
	22: "reset_peer",
	23: "reread_keys",
	24: "do_dirty_hack",
	25: "dont_dirty_hack",
	26: "trustkey",
	27: "untrustkey",
	28: "authinfo",
	29: "traps",
	30: "add_trap",
	31: "clr_trap",
	32: "request_key",
	33: "control_key",
	34: "get_ctlstats",
	35: "get_leapinfo",
	36: "get_clockinfo",
	37: "set_clkfudge",
	38: "get_kernel",
	39: "get_clkbuginfo",
	41: "set_precision",
	42: "mon_getlist_1",
	43: "hostname_associd",
	44: "if_stats",
	45: "if_reload",
}

// The monlist request codes (CVE-2013-5211).
const (
	reqMonGetlist  = 20
	reqMonGetlist1 = 42
)

// maxPrivateCode bounds the request codes accepted at all; codes past the known ones are
// accepted on port 123 only.
const maxPrivateCode = 64

func knownPrivate(code uint8) bool { return code < 64 && privateNames[code] != "" }

func privateName(code uint8) string {
	if code < 64 && privateNames[code] != "" {
		return privateNames[code]
	}
	return "unknown"
}

// implName names a mode 7 implementation number.
func implName(impl uint8) string {
	switch impl {
	case 0:
		return "univ"
	case 2:
		return "xntpd_old"
	case 3:
		return "xntpd"
	}
	return "unknown"
}

// macTypeName guesses the MAC algorithm from the digest length alone.
func macTypeName(n int) string {
	switch n {
	case 8:
		return "des"
	case 16:
		return "md5/aes-cmac" // same length: the wire cannot tell them apart
	case 20:
		return "sha1"
	case 32:
		return "sha256"
	case 48:
		return "sha384"
	case 64:
		return "sha512"
	}
	return "unknown"
}

// kissCodes are the codes of RFC 5905 §7.4 plus NTSN (RFC 8915 §5.7), as constants.
var kissCodes = [...]string{
	"ACST", "AUTH", "AUTO", "BCST", "CRYP", "DENY", "DROP", "RSTR", "INIT", "MCST",
	"NKEY", "NTSN", "RATE", "RMOT", "STEP",
}

// Auth names.
const (
	authNone      = "none"
	authSymmetric = "symmetric"
	authNAK       = "crypto-nak"
	authNTS       = "nts"
)
