// Build module for the three cloud stand-in test peers, built by hack/peers.sh into a cache
// outside the work tree; never part of the product:
//   - aws (peer awsstandin): AWS STS AssumeRoleWithWebIdentity and ECR GetAuthorizationToken,
//     checking Signature Version 4 with the AWS SDK's signer (the one requirement below);
//   - azure (peer azurestandin): the Microsoft Entra ID token endpoint and Azure Container
//     Registry's /oauth2/exchange, in front of a local registry;
//   - gcp (peer gcpstandin): Google's Security Token Service and IAM Credentials
//     generateAccessToken, as GKE workload identity federation uses them.
// internal/standin holds what the three share.
module sealift.dev/hack/tools/cloudstandin

go 1.26.7

require github.com/aws/aws-sdk-go-v2 v1.48.0

require github.com/aws/smithy-go v1.28.9 // indirect
