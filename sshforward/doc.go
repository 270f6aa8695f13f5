// Package sshforward parses --ssh specs and forwards SSH agents to a build
// session.
//
// Forms, as in buildx: "default" (the agent at $SSH_AUTH_SOCK), "ID=SOCKET"
// and "ID=KEY[,KEY…]" (private key files served by an in-process agent).
// Every path is checked when parsed: a missing path, a file that is neither
// a socket nor a private key, an unreadable or passphrase-protected key and
// duplicate ids are errors naming --ssh and the id.
//
// Imports: the standard library, BuildKit's session packages and
// golang.org/x/crypto/ssh.
package sshforward
