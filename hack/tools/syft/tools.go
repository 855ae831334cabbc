//go:build tools

// Package tools pins the syft CLI hack/peers.sh builds (a test peer: the attestation tests
// compare the package list of sealift's SBOM with syft's on the same image).
package tools

import (
	_ "github.com/anchore/syft/cmd/syft"
)
