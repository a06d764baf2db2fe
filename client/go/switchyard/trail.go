package switchyard

import (
	"fmt"
	"strings"

	pb "github.com/switchyard-dev/switchyard/client/go/switchyardv1"
)

// FormatTrail renders attempts one per line, as the other Switchyard clients do:
//
//	#i provider/model [credential] class status -> action: reason
//
// with two leading spaces and a trailing newline per line. The credential,
// class ("none" is omitted) and HTTP status (0 is omitted) appear only when
// set; a step without a provider shows "-".
func FormatTrail(attempts []*pb.Attempt) string {
	var b strings.Builder
	for i, a := range attempts {
		target := "-"
		if a.GetProvider() != "" {
			target = a.GetProvider() + "/" + a.GetModel()
		}
		fmt.Fprintf(&b, "  #%d %s", i, target)
		if c := a.GetCredentialId(); c != "" {
			fmt.Fprintf(&b, " [%s]", c)
		}
		if class := enumName(a.GetErrorClass().String(), "ERROR_CLASS_"); class != "none" {
			fmt.Fprintf(&b, " %s", class)
		}
		if s := a.GetHttpStatus(); s != 0 {
			fmt.Fprintf(&b, " %d", s)
		}
		fmt.Fprintf(&b, " -> %s: %s\n", enumName(a.GetAction().String(), "ACTION_"), a.GetReason())
	}
	return b.String()
}

// enumName turns "ERROR_CLASS_AUTH_TERMINAL" into "auth_terminal"; a value
// unknown to this client (printed by protobuf as its number) stays as is.
func enumName(name, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}
