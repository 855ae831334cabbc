// Build module for the refregistry test peer (an in-memory registry with the OCI 1.1 referrers
// API and Basic auth). Built by hack/peers.sh into a cache outside the work tree; never part of
// the product.
module sealift.dev/hack/tools/refregistry

go 1.26.7

require github.com/google/go-containerregistry v0.21.7
