//go:build tools

// Package tools pins the Kubernetes commands hack/cluster.sh builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
