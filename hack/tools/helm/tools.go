//go:build tools

// Package tools pins the helm CLI hack/peers.sh builds (a test peer: the tests lint and render
// sealift's Helm chart with the real helm and apply the result to the real API server).
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
