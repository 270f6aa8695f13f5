// Command agentlist prints the fingerprints of the keys an SSH agent holds,
// like ssh-add -l. It is built static for images without OpenSSH.
package main

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func main() {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		fmt.Fprintln(os.Stderr, "agentlist: SSH_AUTH_SOCK is not set")
		os.Exit(2)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentlist:", err)
		os.Exit(1)
	}
	keys, err := agent.NewClient(c).List()
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentlist:", err)
		os.Exit(1)
	}
	for _, k := range keys {
		pk, err := ssh.ParsePublicKey(k.Blob)
		if err != nil {
			fmt.Fprintln(os.Stderr, "agentlist:", err)
			os.Exit(1)
		}
		fmt.Println(ssh.FingerprintSHA256(pk))
	}
}
