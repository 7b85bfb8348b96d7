//go:build !linux

package bitcoin

import "os/exec"

// setProcAttr has nothing to set outside Linux: a killed devnet process
// can leave btcd running there.
func setProcAttr(*exec.Cmd) {}
