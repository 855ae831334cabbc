//go:build tools

// Package tools pins the oras CLI hack/peers.sh builds (a test peer: the tests push and read
// OCI artifacts and referrers with the real oras next to sealift).
package tools

import (
	_ "oras.land/oras/cmd/oras"
)
