//go:build tools

// Package tools pins the cosign CLI hack/peers.sh builds (a test peer: the tests sign and verify
// with the real cosign next to sealift).
package tools

import (
	_ "github.com/sigstore/cosign/v3/cmd/cosign"
)
