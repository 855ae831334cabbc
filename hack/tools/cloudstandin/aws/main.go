// Command awsstandin is a test peer: a stand-in for the two AWS APIs behind EKS "IAM roles for
// service accounts" as a registry client uses them, for the e2e test of ImageDelivery's
// `provider: aws`:
//   - STS AssumeRoleWithWebIdentity (POST / with a form body, unsigned): the WebIdentityToken
//     is a Kubernetes ServiceAccount token, verified here the way STS verifies a token of an
//     OpenID Connect provider: RS256 with the API server's service-account public key
//     (-sa-public-key), the issuer (-issuer), the audience sts.amazonaws.com and the expiry;
//     the role's trust policy is the -role ARN=SUBJECT pairs (the token's `sub` that may assume
//     the role). Answers and errors are STS's XML documents.
//   - ECR GetAuthorizationToken (POST / with X-Amz-Target, JSON 1.1): the request must carry
//     the session token of a session STS gave out here, and its Signature Version 4 is checked
//     by the AWS SDK for Go's own signer: a copy of the request (same method, URL, the headers
//     the client signed, the body's hash, the time of its X-Amz-Date) is signed again with the
//     session's secret and the Authorization values must be equal. The answer is the base64 of
//     "AWS:<-ecr-password>" valid for 12 hours; errors are ECR's JSON documents.
//   - GET /_standin/calls: every call so far (never a secret), for the tests' assertions;
//     GET /_standin/secrets: every secret received or handed out (web identity tokens, secret
//     keys, session tokens, the ECR password), for the tests' assertions that none leaked.
//
// HTTPS only (-tls-cert, -tls-key). Prints its URL on one line on stdout once it listens.
// Never part of the product; built by hack/peers.sh (peer awsstandin) into the tools cache.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"sealift.dev/hack/tools/cloudstandin/internal/standin"
)

const (
	stsNamespace    = "https://sts.amazonaws.com/doc/2011-06-15/"
	stsVersion      = "2011-06-15"
	ecrTargetPrefix = "AmazonEC2ContainerRegistry_V20150921."
	tokenAudience   = "sts.amazonaws.com"
	sessionLifetime = time.Hour
	ecrLifetime     = 12 * time.Hour
)

// call is one request as the tests read it from /_standin/calls. No secret is kept here: not
// the web identity token, not a secret key, not a session token, not the ECR password.
type call struct {
	standin.Outcome          // Service: "sts" or "ecr"
	Message         string   `json:"message,omitempty"`     // the error message answered
	Role            string   `json:"role,omitempty"`        // sts: RoleArn
	SessionName     string   `json:"sessionName,omitempty"` // sts: RoleSessionName
	Sub             string   `json:"sub,omitempty"`         // sts: the token's subject
	Aud             []string `json:"aud,omitempty"`         // sts: the token's audiences
	Duration        int      `json:"durationSeconds,omitempty"`
	AccessKeyID     string   `json:"accessKeyId,omitempty"` // sts: issued; ecr: presented
	Operation       string   `json:"operation,omitempty"`   // ecr: X-Amz-Target's operation
	Region          string   `json:"region,omitempty"`      // ecr: the credential scope's region
	Verified        *bool    `json:"verified,omitempty"`    // ecr: the SDK's signature matched
	SignedHdrs      string   `json:"signedHeaders,omitempty"`
}

func (c *call) LogText() string {
	if c.OK {
		return fmt.Sprintf("role=%q sub=%q akid=%s", c.Role, c.Sub, c.AccessKeyID)
	}
	return c.Message
}

type session struct {
	accessKeyID, secret, token string
	role                       string
	account                    string
	expires                    time.Time
}

type server struct {
	verifier    *standin.Verifier
	trust       map[string]map[string]bool // role ARN -> subjects that may assume it
	ecrPassword string
	region      string
	signer      *v4.Signer

	calls   standin.Calls[call, *call]
	secrets *standin.Secrets

	mu       sync.Mutex
	sessions map[string]*session // by access key id
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path != "/":
		http.NotFound(w, r)
	case r.Header.Get("X-Amz-Target") != "":
		s.ecr(w, r)
	default:
		s.sts(w, r)
	}
}

func ecrToken(password string) string {
	return base64.StdEncoding.EncodeToString([]byte("AWS:" + password))
}

func randomID(n int) string {
	return b32.EncodeToString(standin.RandomBytes(n))
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ---- STS ----

type stsErrorDoc struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type stsAnswer struct {
	XMLName xml.Name `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Audience        string `xml:"Audience"`
		Subject         string `xml:"SubjectFromWebIdentityToken"`
		AssumedRoleUser struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials stsCredentials `xml:"Credentials"`
		Provider    string         `xml:"Provider"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	Metadata struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

func writeXML(w http.ResponseWriter, status int, v any) {
	w.Header().Set("x-amzn-RequestId", standin.GUID())
	standin.WriteXML(w, status, v)
}

func (s *server) stsError(w http.ResponseWriter, c *call, status int, code, msg string) {
	doc := stsErrorDoc{Xmlns: stsNamespace, RequestID: standin.GUID()}
	doc.Error.Type = "Sender"
	doc.Error.Code = code
	doc.Error.Message = msg
	c.Status, c.Error, c.Message = status, code, msg
	s.calls.Add(*c)
	writeXML(w, status, &doc)
}

var (
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	roleArnRE     = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$`)
)

func (s *server) sts(w http.ResponseWriter, r *http.Request) {
	c := call{Outcome: standin.Outcome{Service: "sts"}}
	if r.Method != http.MethodPost {
		s.stsError(w, &c, http.StatusBadRequest, "InvalidAction", "STS answers POST only here")
		return
	}
	f, ok := standin.ReadForm(w, r)
	if !ok {
		s.stsError(w, &c, http.StatusBadRequest, "MalformedInput", "the form body cannot be read")
		return
	}
	if f.Get("Action") != "AssumeRoleWithWebIdentity" {
		s.stsError(w, &c, http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("Could not find operation %q for version %s", f.Get("Action"), stsVersion))
		return
	}
	if f.Get("Version") != stsVersion {
		s.stsError(w, &c, http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("Could not find operation AssumeRoleWithWebIdentity for version %q",
				f.Get("Version")))
		return
	}
	c.Role, c.SessionName = f.Get("RoleArn"), f.Get("RoleSessionName")
	m := roleArnRE.FindStringSubmatch(c.Role)
	if m == nil {
		s.stsError(w, &c, http.StatusBadRequest, "ValidationError",
			"1 validation error detected: Value at 'roleArn' failed to satisfy constraint: "+
				"Member must be an IAM role ARN")
		return
	}
	account := m[2]
	if !sessionNameRE.MatchString(c.SessionName) {
		s.stsError(w, &c, http.StatusBadRequest, "ValidationError",
			"1 validation error detected: Value at 'roleSessionName' failed to satisfy "+
				`constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`)
		return
	}
	duration := 3600
	if d := f.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 {
			s.stsError(w, &c, http.StatusBadRequest, "ValidationError",
				"1 validation error detected: Value at 'durationSeconds' failed to satisfy "+
					"constraint: Member must have value greater than or equal to 900")
			return
		}
		if n > int(sessionLifetime/time.Second) {
			s.stsError(w, &c, http.StatusBadRequest, "ValidationError",
				"The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
			return
		}
		duration = n
	}
	c.Duration = duration
	token := f.Get("WebIdentityToken")
	s.secrets.Add("webIdentityTokens", token)
	if token == "" {
		s.stsError(w, &c, http.StatusBadRequest, "ValidationError",
			"1 validation error detected: Value at 'webIdentityToken' failed to satisfy "+
				"constraint: Member must have length greater than or equal to 4")
		return
	}
	claims, refusal := s.verifier.Verify(token)
	if claims != nil {
		c.Sub, c.Aud = claims.Sub, claims.Aud
	}
	if refusal != nil {
		code, msg := stsRefusal(claims, refusal)
		s.stsError(w, &c, http.StatusBadRequest, code, msg)
		return
	}
	if !s.trust[c.Role][claims.Sub] {
		s.stsError(w, &c, http.StatusForbidden, "AccessDenied",
			"Not authorized to perform sts:AssumeRoleWithWebIdentity")
		return
	}

	sess := &session{
		accessKeyID: "ASIA" + randomID(10),
		secret:      base64.StdEncoding.EncodeToString(standin.RandomBytes(30)),
		token:       "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString(standin.RandomBytes(96)),
		role:        c.Role,
		account:     account,
		expires:     time.Now().Add(time.Duration(duration) * time.Second).UTC().Truncate(time.Second),
	}
	s.mu.Lock()
	s.sessions[sess.accessKeyID] = sess
	s.mu.Unlock()
	s.secrets.Add("secretAccessKeys", sess.secret)
	s.secrets.Add("sessionTokens", sess.token)
	c.AccessKeyID = sess.accessKeyID

	var a stsAnswer
	a.Xmlns = stsNamespace
	roleName := c.Role[strings.LastIndex(c.Role, "/")+1:]
	a.Result.Audience = tokenAudience
	a.Result.Subject = claims.Sub
	a.Result.AssumedRoleUser.Arn = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account,
		roleName, c.SessionName)
	a.Result.AssumedRoleUser.AssumedRoleID = "AROA" + randomID(10) + ":" + c.SessionName
	a.Result.Credentials = stsCredentials{
		AccessKeyID:     sess.accessKeyID,
		SecretAccessKey: sess.secret,
		SessionToken:    sess.token,
		Expiration:      sess.expires.Format("2006-01-02T15:04:05Z"),
	}
	a.Result.Provider = strings.TrimPrefix(s.verifier.Issuer, "https://")
	a.Metadata.RequestID = standin.GUID()
	c.OK, c.Status = true, http.StatusOK
	s.calls.Add(c)
	writeXML(w, http.StatusOK, &a)
}

// stsRefusals are STS's messages (code InvalidIdentityToken) for the web identity tokens it
// refuses, but for the faults whose message names a claim.
var stsRefusals = map[standin.Fault]string{
	standin.NotJWT:               "Couldn't retrieve verification key from your identity provider",
	standin.BadHeader:            "The web identity token header cannot be read",
	standin.BadAlgorithm:         "The web identity token is not signed with RS256",
	standin.BadSignatureEncoding: "The web identity token signature cannot be read",
	standin.BadSignature:         "Couldn't verify the signature of the web identity token",
	standin.BadPayload:           "The web identity token payload cannot be read",
	standin.BadAudienceClaim:     "Incorrect token audience",
	standin.WrongAudience:        "Incorrect token audience",
	standin.NoExpiry:             "The web identity token has no expiry",
	standin.BadNotBefore:         "The web identity token's nbf cannot be read",
	standin.NotYetValid:          "The web identity token is not valid yet",
	standin.NoSubject:            "The web identity token has no subject",
}

// stsRefusal is STS's error code and message for a web identity token it refuses.
func stsRefusal(cl *standin.Claims, r *standin.Refusal) (string, string) {
	switch r.Fault {
	case standin.WrongIssuer:
		return "InvalidIdentityToken",
			fmt.Sprintf("No OpenIDConnect provider found in your account for %s", cl.Iss)
	case standin.Expired:
		return "ExpiredTokenException", fmt.Sprintf(
			"Token expired: current date/time %d must be before the expiration date/time %d",
			r.Now, cl.Exp)
	}
	return "InvalidIdentityToken", stsRefusals[r.Fault]
}

// ---- ECR ----

func (s *server) ecrError(w http.ResponseWriter, c *call, typ, msg string) {
	c.Status, c.Error, c.Message = http.StatusBadRequest, typ, msg
	s.calls.Add(*c)
	w.Header().Set("x-amzn-RequestId", standin.GUID())
	standin.WriteJSON(w, http.StatusBadRequest, "application/x-amz-json-1.1",
		map[string]string{"__type": typ, "message": msg})
}

// authHeader is a parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
type authHeader struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
}

func parseAuthorization(v string) (*authHeader, bool) {
	rest, ok := strings.CutPrefix(v, "AWS4-HMAC-SHA256 ")
	if !ok {
		return nil, false
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, false
		}
		fields[k] = val
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || fields["SignedHeaders"] == "" ||
		fields["Signature"] == "" {
		return nil, false
	}
	return &authHeader{accessKeyID: scope[0], date: scope[1], region: scope[2],
		service: scope[3], signedHeaders: strings.Split(fields["SignedHeaders"], ";")}, true
}

func (s *server) ecr(w http.ResponseWriter, r *http.Request) {
	c := call{Outcome: standin.Outcome{Service: "ecr"}, Verified: new(bool)}
	target := r.Header.Get("X-Amz-Target")
	c.Operation = strings.TrimPrefix(target, ecrTargetPrefix)
	if r.Method != http.MethodPost {
		s.ecrError(w, &c, "UnknownOperationException", "ECR answers POST only")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, standin.MaxBody))
	if err != nil {
		s.ecrError(w, &c, "SerializationException", "the body cannot be read")
		return
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		s.ecrError(w, &c, "MissingAuthenticationTokenException", "Missing Authentication Token")
		return
	}
	ah, ok := parseAuthorization(authz)
	if !ok {
		s.ecrError(w, &c, "IncompleteSignatureException",
			"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "+
				"parameters of the AWS4-HMAC-SHA256 algorithm")
		return
	}
	c.AccessKeyID, c.Region = ah.accessKeyID, ah.region
	c.SignedHdrs = strings.Join(ah.signedHeaders, ";")

	s.mu.Lock()
	sess := s.sessions[ah.accessKeyID]
	s.mu.Unlock()
	presented := r.Header.Get("X-Amz-Security-Token")
	if sess == nil || subtle.ConstantTimeCompare([]byte(presented), []byte(sess.token)) != 1 {
		s.ecrError(w, &c, "UnrecognizedClientException",
			"The security token included in the request is invalid.")
		return
	}
	if time.Now().After(sess.expires) {
		s.ecrError(w, &c, "ExpiredTokenException",
			"The security token included in the request is expired")
		return
	}
	if ah.service != "ecr" {
		s.ecrError(w, &c, "InvalidSignatureException",
			"Credential should be scoped to correct service: 'ecr'.")
		return
	}
	if ah.region != s.region {
		s.ecrError(w, &c, "InvalidSignatureException",
			fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", ah.region))
		return
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signingTime, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || ah.date != amzDate[:8] {
		s.ecrError(w, &c, "IncompleteSignatureException",
			"The request must contain a valid X-Amz-Date header matching the credential scope")
		return
	}
	if d := time.Since(signingTime); d > standin.MaxClockSkew || d < -standin.MaxClockSkew {
		s.ecrError(w, &c, "InvalidSignatureException",
			fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)", amzDate,
				time.Now().Add(-standin.MaxClockSkew).UTC().Format("20060102T150405Z"),
				time.Now().UTC().Format("20060102T150405Z")))
		return
	}
	signed := map[string]bool{}
	for _, h := range ah.signedHeaders {
		signed[h] = true
	}
	for name := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-") && !signed[lower] {
			s.ecrError(w, &c, "InvalidSignatureException",
				fmt.Sprintf("Header %s is sent but not signed", lower))
			return
		}
	}
	if !signed["host"] {
		s.ecrError(w, &c, "InvalidSignatureException", "The host header must be signed")
		return
	}
	want, err := s.resign(r, body, ah, sess, signingTime)
	if err != nil {
		s.ecrError(w, &c, "InvalidSignatureException", err.Error())
		return
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(authz)) != 1 {
		s.ecrError(w, &c, "InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. "+
				"Check your AWS Secret Access Key and signing method. Consult the service "+
				"documentation for details.")
		return
	}
	*c.Verified = true

	if target != ecrTargetPrefix+"GetAuthorizationToken" {
		s.ecrError(w, &c, "UnknownOperationException", "")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		s.ecrError(w, &c, "SerializationException",
			fmt.Sprintf("Content-Type %q is not application/x-amz-json-1.1", ct))
		return
	}
	var input map[string]json.RawMessage
	if json.Unmarshal(body, &input) != nil {
		s.ecrError(w, &c, "SerializationException", "Start of structure or map found where not expected.")
		return
	}
	// Like ECR's, the token is valid for 12 hours, longer than the session that asked for it:
	// a client keeps it no longer than the earlier of the two ends.
	expiresAt := time.Now().Add(ecrLifetime)
	answer := fmt.Sprintf(`{"authorizationData":[{"authorizationToken":%q,`+
		`"expiresAt":%.3f,"proxyEndpoint":%q}]}`,
		ecrToken(s.ecrPassword),
		float64(expiresAt.UnixMilli())/1000,
		fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", sess.account, s.region))
	c.OK, c.Status = true, http.StatusOK
	s.calls.Add(c)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", standin.GUID())
	io.WriteString(w, answer)
}

// resign signs a copy of r with the AWS SDK's signer and returns its Authorization value. The
// copy has the headers the client listed as signed (so the SDK signs that same set) and a
// Content-Length only when the client signed one; the payload hash is the body's.
func (s *server) resign(r *http.Request, body []byte, ah *authHeader, sess *session,
	signingTime time.Time) (string, error) {
	u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath,
		RawQuery: r.URL.RawQuery}
	cp, err := http.NewRequest(r.Method, u.String(), nil)
	if err != nil {
		return "", errors.New("the request URL cannot be rebuilt")
	}
	cp.Host = r.Host
	names := append([]string{}, ah.signedHeaders...)
	sort.Strings(names)
	for _, name := range names {
		switch name {
		case "host", "x-amz-date", "x-amz-security-token":
			// the signer sets these itself (from Host, the signing time and the credentials)
		case "content-length":
			cp.ContentLength = int64(len(body))
		default:
			vals := r.Header.Values(name)
			if len(vals) == 0 {
				return "", fmt.Errorf("Signed header %s is not in the request", name)
			}
			for _, v := range vals {
				cp.Header.Add(name, v)
			}
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: sess.accessKeyID, SecretAccessKey: sess.secret,
		SessionToken: sess.token}
	err = s.signer.SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]),
		ah.service, ah.region, signingTime)
	if err != nil {
		return "", errors.New("the request cannot be signed again")
	}
	return cp.Header.Get("Authorization"), nil
}

// ---- set-up ----

func main() {
	common := standin.RegisterFlags("serving certificate (PEM)")
	ecrPassword := flag.String("ecr-password", "", "the ECR registry password handed out")
	region := flag.String("region", "us-east-1", "the region of the ECR API")
	var roles standin.ListFlag
	flag.Var(&roles, "role", "ARN=SUBJECT: the role may be assumed by tokens of that subject (repeatable)")
	flag.Parse()
	standin.Require("tls-cert", "tls-key", "sa-public-key", "issuer", "ecr-password")
	verifier := common.Verifier(tokenAudience)
	trust := standin.Trust("role", roles, "ARN=SUBJECT with an IAM role ARN",
		func(arn string) (string, bool) { return arn, roleArnRE.MatchString(arn) })
	s := &server{verifier: verifier, trust: trust,
		ecrPassword: *ecrPassword, region: *region, signer: v4.NewSigner(),
		sessions: map[string]*session{},
		secrets: standin.NewSecrets("webIdentityTokens", "secretAccessKeys", "sessionTokens",
			"ecrPasswords", "ecrAuthorizationTokens")}
	s.secrets.Add("ecrPasswords", *ecrPassword)
	s.secrets.Add("ecrAuthorizationTokens", ecrToken(*ecrPassword))
	common.Serve(standin.Handler(&s.calls, s.secrets, s), "awsstandin serving STS and ECR")
}
