// Command gcpstandin is a test peer: a stand-in for the two Google APIs behind GKE workload
// identity federation as a registry client uses them, for the e2e test of ImageDelivery's
// `provider: gcp`:
//   - Security Token Service token exchange (POST /v1/token, JSON, RFC 8693): the subject token
//     is a Kubernetes ServiceAccount token, verified the way STS verifies a token of an OIDC
//     workload identity provider: RS256 with the API server's service-account public key
//     (-sa-public-key), the issuer (-issuer), the audience the pool expects ("https:" + the
//     provider's resource name for "//iam.googleapis.com/..." audiences, PROJECT.svc.id.goog
//     for GKE's identity namespace) and the expiry; the request's audience must be the pool's
//     (-audience) and the token's `sub` one of the subjects the pool maps (-pool-subject). The
//     answer is a federated access token (random, remembered with its subject), except for the
//     one -direct-subject whose federated token is the -registry-token itself (the registry
//     grants that principal direct resource access). Errors are STS's OAuth documents.
//   - IAM Credentials generateAccessToken (POST /v1/projects/-/serviceAccounts/EMAIL:
//     generateAccessToken): the Bearer must be a federated token issued here whose subject may
//     impersonate EMAIL (-impersonate EMAIL=SUBJECT); the answer's accessToken is the
//     -registry-token. Errors are Google's JSON error documents.
//   - GET /_standin/calls: every call so far (never a secret; other paths as "unknown"), for
//     the tests' assertions;
//     GET /_standin/secrets: every secret received or handed out (subject tokens, federated
//     tokens, the registry token), for the tests' assertions that none leaked.
//
// HTTPS only (-tls-cert, -tls-key). Prints its URL on one line on stdout once it listens.
// Never part of the product; built by hack/peers.sh (peer gcpstandin) into the tools cache.
package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"sealift.dev/hack/tools/cloudstandin/internal/standin"
)

const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
	scopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"
	federatedLifetime  = time.Hour
	maxLifetime        = time.Hour

	permissionDenied = "Permission 'iam.serviceAccounts.getAccessToken' denied on resource " +
		"(or it may not exist)."
	unauthenticated = "Request had invalid authentication credentials. Expected OAuth 2 access " +
		"token, login cookie or other valid authentication credential. See " +
		"https://developers.google.com/identity/sign-in/web/devconsole-project."
)

// call is one request as the tests read it from /_standin/calls. No secret is kept here: not
// the subject token, not a federated token, not the registry token.
type call struct {
	// Service: "sts", "iam" or "unknown" (another path); Error: sts: the OAuth error; iam: the
	// status
	standin.Outcome
	Message        string   `json:"message,omitempty"` // the description or message answered
	Audience       string   `json:"audience,omitempty"`
	Scope          []string `json:"scope,omitempty"`
	Sub            string   `json:"sub,omitempty"`            // sts: the token's; iam: the Bearer's
	Aud            []string `json:"aud,omitempty"`            // sts: the token's audiences
	ServiceAccount string   `json:"serviceAccount,omitempty"` // iam: the e-mail in the path
	Lifetime       string   `json:"lifetime,omitempty"`       // iam: as asked
	ContentType    string   `json:"contentType,omitempty"`
}

func (c *call) LogText() string {
	if c.OK {
		return fmt.Sprintf("sub=%q sa=%q", c.Sub, c.ServiceAccount)
	}
	return c.Message
}

type federated struct {
	subject string
	expires time.Time
}

type server struct {
	verifier      *standin.Verifier
	audience      string // the pool provider's resource name (STS audience)
	poolSubjects  map[string]bool
	impersonate   map[string]map[string]bool // Google SA e-mail -> subjects
	registryToken string
	directSubject string

	calls   standin.Calls[call, *call]
	secrets *standin.Secrets

	mu        sync.Mutex
	federated map[string]*federated // by token
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	standin.WriteJSON(w, status, "application/json; charset=UTF-8", v)
}

var generateRE = regexp.MustCompile(`^/v1/projects/-/serviceAccounts/([^/]+):generateAccessToken$`)

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/token":
		s.sts(w, r)
	case generateRE.MatchString(r.URL.Path):
		s.generate(w, r, generateRE.FindStringSubmatch(r.URL.Path)[1])
	default:
		// recorded too, so that a test sees a request that went astray
		s.calls.Add(call{Outcome: standin.Outcome{Service: "unknown",
			Status: http.StatusNotFound, Error: "NOT_FOUND"}, Message: r.Method + " " + r.URL.Path})
		http.NotFound(w, r)
	}
}

func randomToken() string {
	// Google's access tokens are opaque strings of this alphabet
	return "ya29.d." + base64.RawURLEncoding.EncodeToString(standin.RandomBytes(48))
}

// jsonBody reads a JSON request body (application/json, at most standin.MaxBody bytes) into v.
func jsonBody(w http.ResponseWriter, r *http.Request, v any) (string, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return ct, fmt.Errorf("the request's Content-Type %q is not application/json", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, standin.MaxBody))
	if err != nil {
		return ct, fmt.Errorf("the request body cannot be read")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return ct, fmt.Errorf("Invalid JSON payload received.")
	}
	return ct, nil
}

// ---- STS ----

func (s *server) stsError(w http.ResponseWriter, c *call, status int, code, desc string) {
	c.Status, c.Error, c.Message = status, code, desc
	s.calls.Add(*c)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *server) sts(w http.ResponseWriter, r *http.Request) {
	c := call{Outcome: standin.Outcome{Service: "sts"}}
	if r.Method != http.MethodPost {
		s.stsError(w, &c, http.StatusMethodNotAllowed, "invalid_request",
			"The token endpoint answers POST only.")
		return
	}
	var req struct {
		Audience           string `json:"audience"`
		GrantType          string `json:"grantType"`
		RequestedTokenType string `json:"requestedTokenType"`
		Scope              string `json:"scope"`
		SubjectTokenType   string `json:"subjectTokenType"`
		SubjectToken       string `json:"subjectToken"`
	}
	ct, err := jsonBody(w, r, &req)
	c.ContentType = ct
	if err != nil {
		s.stsError(w, &c, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	c.Audience = req.Audience
	if req.Scope != "" {
		c.Scope = strings.Fields(req.Scope)
	}
	s.secrets.Add("subjectTokens", req.SubjectToken)
	switch {
	case req.GrantType != grantTokenExchange:
		s.stsError(w, &c, http.StatusBadRequest, "unsupported_grant_type",
			fmt.Sprintf("Invalid value for \"grant_type\": %q.", req.GrantType))
		return
	case req.RequestedTokenType != tokenTypeAccess:
		s.stsError(w, &c, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("Invalid value for \"requested_token_type\": %q.", req.RequestedTokenType))
		return
	case req.SubjectTokenType != tokenTypeJWT:
		s.stsError(w, &c, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("Invalid value for \"subject_token_type\": %q. The workload identity "+
				"provider is of type OIDC and accepts %s.", req.SubjectTokenType, tokenTypeJWT))
		return
	case req.Scope != scopeCloudPlatform:
		s.stsError(w, &c, http.StatusBadRequest, "invalid_scope",
			fmt.Sprintf("Invalid value for \"scope\": %q.", req.Scope))
		return
	case req.Audience == "":
		s.stsError(w, &c, http.StatusBadRequest, "invalid_request",
			"The request is missing the required parameter \"audience\".")
		return
	case req.Audience != s.audience:
		s.stsError(w, &c, http.StatusBadRequest, "invalid_target",
			"The target service indicated by the \"audience\" parameters is invalid. This "+
				"might either be because the pool or provider is disabled or deleted or "+
				"because it doesn't exist.")
		return
	case req.SubjectToken == "":
		s.stsError(w, &c, http.StatusBadRequest, "invalid_request",
			"The request is missing the required parameter \"subject_token\".")
		return
	}
	cl, refusal := s.verifier.Verify(req.SubjectToken)
	if cl != nil {
		c.Sub, c.Aud = cl.Sub, cl.Aud
	}
	if refusal != nil {
		s.stsError(w, &c, http.StatusBadRequest, "invalid_grant",
			s.tokenRefusal(cl, refusal))
		return
	}
	if !s.poolSubjects[cl.Sub] {
		// what STS says when the provider's attribute condition does not hold
		s.stsError(w, &c, http.StatusBadRequest, "unauthorized_client",
			"The given credential is rejected by the attribute condition.")
		return
	}
	tok := randomToken()
	if cl.Sub == s.directSubject {
		tok = s.registryToken
	}
	s.mu.Lock()
	s.federated[tok] = &federated{subject: cl.Sub, expires: time.Now().Add(federatedLifetime)}
	s.mu.Unlock()
	s.secrets.Add("federatedTokens", tok)
	c.OK, c.Status = true, http.StatusOK
	s.calls.Add(c)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      tok,
		"issued_token_type": tokenTypeAccess,
		"token_type":        "Bearer",
		"expires_in":        int(federatedLifetime / time.Second),
	})
}

// tokenRefusals are STS's descriptions of the subject tokens it refuses, but for the faults
// whose description names a claim.
var tokenRefusals = map[standin.Fault]string{
	standin.NotJWT:               "Invalid ID Token: the token is not a JWT.",
	standin.BadHeader:            "Invalid ID Token: the header cannot be read.",
	standin.BadSignatureEncoding: "Invalid ID Token: the signature cannot be read.",
	standin.BadSignature:         "The ID Token's signature cannot be verified.",
	standin.BadPayload:           "Invalid ID Token: the payload cannot be read.",
	standin.BadAudienceClaim:     "Invalid ID Token: the aud claim cannot be read.",
	standin.NoExpiry:             "Invalid ID Token: the exp claim is missing.",
	standin.BadNotBefore:         "Invalid ID Token: the nbf claim cannot be read.",
	standin.NotYetValid:          "Invalid ID Token: the token is not valid yet.",
	standin.NoSubject:            "Invalid ID Token: the sub claim is missing.",
}

// tokenRefusal is STS's description of a subject token it refuses.
func (s *server) tokenRefusal(cl *standin.Claims, r *standin.Refusal) string {
	switch r.Fault {
	case standin.BadAlgorithm:
		return fmt.Sprintf("Invalid ID Token: unsupported signing algorithm %q.", r.Alg)
	case standin.WrongIssuer:
		return fmt.Sprintf("The issuer in ID Token %s does not match the expected ones.", cl.Iss)
	case standin.WrongAudience:
		return fmt.Sprintf("The audience in ID Token [%s] does not match the expected "+
			"audience %s.", strings.Join(cl.Aud, ", "), s.verifier.Audience)
	case standin.Expired:
		return fmt.Sprintf("ID Token expired at %d, now is %d.", cl.Exp, r.Now)
	}
	return tokenRefusals[r.Fault]
}

// ---- IAM Credentials ----

var statusCodes = map[string]int{"INVALID_ARGUMENT": http.StatusBadRequest,
	"UNAUTHENTICATED": http.StatusUnauthorized, "PERMISSION_DENIED": http.StatusForbidden,
	"NOT_FOUND": http.StatusNotFound}

func (s *server) iamError(w http.ResponseWriter, c *call, status, msg string) {
	code := statusCodes[status]
	c.Status, c.Error, c.Message = code, status, msg
	s.calls.Add(*c)
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code": code, "message": msg, "status": status}})
}

var lifetimeRE = regexp.MustCompile(`^([0-9]{1,6})s$`)

func (s *server) generate(w http.ResponseWriter, r *http.Request, email string) {
	c := call{Outcome: standin.Outcome{Service: "iam"}, ServiceAccount: email}
	if r.Method != http.MethodPost {
		s.iamError(w, &c, "NOT_FOUND", "The requested URL was not found on this server.")
		return
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	fed := s.federated[bearer]
	s.mu.Unlock()
	if !ok || fed == nil || time.Now().After(fed.expires) {
		s.iamError(w, &c, "UNAUTHENTICATED", unauthenticated)
		return
	}
	c.Sub = fed.subject
	var req struct {
		Scope    []string `json:"scope"`
		Lifetime string   `json:"lifetime"`
		// Delegates is refused: the stand-in knows no delegation chains
		Delegates []string `json:"delegates"`
	}
	ct, err := jsonBody(w, r, &req)
	c.ContentType = ct
	if err != nil {
		s.iamError(w, &c, "INVALID_ARGUMENT", err.Error())
		return
	}
	c.Scope, c.Lifetime = req.Scope, req.Lifetime
	if len(req.Scope) == 0 {
		s.iamError(w, &c, "INVALID_ARGUMENT", "Scope required.")
		return
	}
	lifetime := maxLifetime
	if req.Lifetime != "" {
		n := 0
		if m := lifetimeRE.FindStringSubmatch(req.Lifetime); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if n < 1 || time.Duration(n)*time.Second > maxLifetime {
			s.iamError(w, &c, "INVALID_ARGUMENT",
				fmt.Sprintf("The lifetime %q is not between 1s and 3600s.", req.Lifetime))
			return
		}
		lifetime = time.Duration(n) * time.Second
	}
	if len(req.Delegates) > 0 {
		s.iamError(w, &c, "PERMISSION_DENIED", permissionDenied)
		return
	}
	if !s.impersonate[email][fed.subject] {
		s.iamError(w, &c, "PERMISSION_DENIED", permissionDenied)
		return
	}
	c.OK, c.Status = true, http.StatusOK
	s.calls.Add(c)
	writeJSON(w, http.StatusOK, map[string]string{
		"accessToken": s.registryToken,
		"expireTime":  time.Now().Add(lifetime).UTC().Format("2006-01-02T15:04:05Z"),
	})
}

// ---- set-up ----

// tokenAudienceOf is the audience of the subject tokens a pool of the STS audience aud takes.
func tokenAudienceOf(aud string) (string, error) {
	if strings.HasPrefix(aud, "//iam.googleapis.com/projects/") {
		return "https:" + aud, nil
	}
	if rest, ok := strings.CutPrefix(aud, "identitynamespace:"); ok {
		ns, _, ok := strings.Cut(rest, ":")
		if ok && strings.HasSuffix(ns, ".svc.id.goog") {
			return ns, nil
		}
	}
	return "", fmt.Errorf("-audience %q: want //iam.googleapis.com/projects/... or "+
		"identitynamespace:PROJECT.svc.id.goog:...", aud)
}

func main() {
	common := standin.RegisterFlags("serving certificate (PEM)")
	audience := flag.String("audience", "", "the STS audience: the workload identity provider's name")
	registryToken := flag.String("registry-token", "", "the access token the registry takes")
	direct := flag.String("direct-subject", "", "the pool subject whose federated token is "+
		"-registry-token (direct resource access)")
	var subjects, imps standin.ListFlag
	flag.Var(&subjects, "pool-subject", "SUBJECT: the pool maps tokens of that subject (repeatable)")
	flag.Var(&imps, "impersonate", "EMAIL=SUBJECT: that subject may impersonate the Google "+
		"service account (repeatable)")
	flag.Parse()
	standin.Require("tls-cert", "tls-key", "sa-public-key", "issuer", "audience",
		"registry-token")
	tokenAud, err := tokenAudienceOf(*audience)
	if err != nil {
		log.Fatal(err)
	}
	verifier := common.Verifier(tokenAud)
	pool := map[string]bool{}
	for _, sub := range subjects {
		pool[sub] = true
	}
	if *direct != "" && !pool[*direct] {
		log.Fatalf("-direct-subject %q is not a -pool-subject", *direct)
	}
	impersonate := standin.Trust("impersonate", imps, "EMAIL=SUBJECT",
		func(email string) (string, bool) { return email, strings.Contains(email, "@") })
	s := &server{verifier: verifier, audience: *audience, poolSubjects: pool,
		impersonate: impersonate, registryToken: *registryToken, directSubject: *direct,
		federated: map[string]*federated{},
		secrets:   standin.NewSecrets("subjectTokens", "federatedTokens", "accessTokens")}
	s.secrets.Add("accessTokens", *registryToken)
	common.Serve(standin.Handler(&s.calls, s.secrets, s),
		"gcpstandin serving STS and IAM Credentials")
}
