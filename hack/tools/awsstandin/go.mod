// Build module for the awsstandin test peer (a stand-in for AWS STS AssumeRoleWithWebIdentity
// and ECR GetAuthorizationToken that checks Signature Version 4 with the AWS SDK's signer).
// Built by hack/peers.sh into a cache outside the work tree; never part of the product.
module sealift.dev/hack/tools/awsstandin

go 1.26.7

require github.com/aws/aws-sdk-go-v2 v1.48.0

require github.com/aws/smithy-go v1.28.9 // indirect
