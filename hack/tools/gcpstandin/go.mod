// Build module for the gcpstandin test peer (a stand-in for Google's Security Token Service and
// IAM Credentials generateAccessToken, as GKE workload identity federation uses them). Standard
// library only. Built by hack/peers.sh into a cache outside the work tree; never part of the
// product.
module sealift.dev/hack/tools/gcpstandin

go 1.26.7
