package bitcoin

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes btcd die with the devnet's process, so that a killed
// all-in-one leaves no node holding its data folder.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
