// Build module for the azurestandin test peer (a stand-in for the Microsoft Entra ID token
// endpoint and Azure Container Registry's /oauth2/exchange, in front of a local registry).
// Standard library only. Built by hack/peers.sh into a cache outside the work tree; never part
// of the product.
module sealift.dev/hack/tools/azurestandin

go 1.26.7
