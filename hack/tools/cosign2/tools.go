//go:build tools

// Package tools pins the cosign v2 CLI hack/peers.sh builds (a test peer: what sealift writes must
// pass `cosign verify` of the v2 line too, which many clusters still run).
package tools

import (
	_ "github.com/sigstore/cosign/v2/cmd/cosign"
)
