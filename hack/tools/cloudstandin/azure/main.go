// Command azurestandin is a test peer: a stand-in for the two Azure endpoints behind Microsoft
// Entra Workload ID as a registry client uses them, for the e2e test of ImageDelivery's
// `provider: azure`, and the front of the Azure Container Registry itself:
//   - Entra ID's token endpoint (POST /{tenant}/oauth2/v2.0/token, OAuth 2.0 client
//     credentials with a client assertion, RFC 7523): the assertion is a Kubernetes
//     ServiceAccount token, verified the way Entra ID verifies a federated identity credential:
//     RS256 with the API server's service-account public key (-sa-public-key), the issuer
//     (-issuer), the audience api://AzureADTokenExchange, the expiry, and the subject one of the
//     application's federated credentials names (-federation CLIENT=SUBJECT). The tenant is
//     -tenant. Answers and errors are Entra ID's JSON documents (AADSTS codes).
//   - ACR's POST /oauth2/exchange (grant_type=access_token): the access token must be one
//     issued here, for this tenant, the service the registry's host (-registry-host). The
//     answer's refresh token is -acr-password, so a docker-registry's htpasswd can hold it for
//     the user 00000000-0000-0000-0000-000000000000.
//   - /v2/...: reverse-proxied to the registry (-registry-upstream, plain http on loopback).
//   - GET /_standin/calls: every token and exchange call so far (never a secret), for the
//     tests' assertions; GET /_standin/secrets: every secret received or handed out (client
//     assertions, access tokens, the refresh token), for the tests' assertions that none leaked.
//
// HTTPS only (-tls-cert, -tls-key; the certificate names 127.0.0.1 and the registry's host).
// Prints its URL on one line on stdout once it listens. Never part of the product; built by
// hack/peers.sh (peer azurestandin) into the tools cache.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"sealift.dev/hack/tools/cloudstandin/internal/standin"
)

const (
	tokenAudience       = "api://AzureADTokenExchange"
	armScope            = "https://management.azure.com/.default"
	assertionType       = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	accessTokenLifetime = 3599
)

// call is one request as the tests read it from /_standin/calls. No secret is kept here: not
// the client assertion, not an access token, not the refresh token.
type call struct {
	standin.Outcome          // Service: "entra" or "acr"
	Description     string   `json:"error_description,omitempty"` // the message answered
	Host            string   `json:"host,omitempty"`              // the Host the request named
	Tenant          string   `json:"tenant,omitempty"`            // entra: the path's; acr: the form's
	ClientID        string   `json:"client_id,omitempty"`         // entra: the form's; acr: the token's
	Scope           string   `json:"scope,omitempty"`             // entra
	GrantType       string   `json:"grant_type,omitempty"`
	AssertionType   string   `json:"client_assertion_type,omitempty"` // entra
	Iss             string   `json:"iss,omitempty"`                   // entra: the assertion's claims
	Sub             string   `json:"sub,omitempty"`
	Aud             []string `json:"aud,omitempty"`
	Service2        string   `json:"acr_service,omitempty"` // acr: the form's service
	TokenID         string   `json:"token_id,omitempty"`    // entra: issued; acr: presented
}

func (c *call) LogText() string {
	if c.OK {
		return fmt.Sprintf("client=%q tenant=%q sub=%q token=%s", c.ClientID, c.Tenant, c.Sub,
			c.TokenID)
	}
	return c.Description
}

// issued is an access token handed out here (by its value).
type issued struct {
	id, tenant, client string
	expires            time.Time
}

type server struct {
	verifier     *standin.Verifier
	tenant       string
	federation   map[string]map[string]bool // client ID (lower case) -> subjects it trusts
	registryHost string
	acrPassword  string
	proxy        http.Handler

	calls   standin.Calls[call, *call]
	secrets *standin.Secrets

	mu     sync.Mutex
	tokens map[string]*issued // access tokens handed out
}

var tokenPathRE = regexp.MustCompile(`^/([^/]+)/oauth2/v2\.0/token$`)

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/"):
		s.proxy.ServeHTTP(w, r)
	case r.URL.Path == "/oauth2/exchange":
		s.exchange(w, r)
	case tokenPathRE.MatchString(r.URL.Path):
		s.token(w, r, tokenPathRE.FindStringSubmatch(r.URL.Path)[1])
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	standin.WriteJSON(w, status, "application/json; charset=utf-8", v)
}

// hostOf is the request's Host without a default https port.
func hostOf(r *http.Request) string {
	return strings.TrimSuffix(strings.ToLower(r.Host), ":443")
}

// ---- Entra ID ----

// entraError answers an error document as Entra ID's token endpoint writes it: the code, the
// description starting with its AADSTS number, the trace and correlation IDs and the time.
func (s *server) entraError(w http.ResponseWriter, c *call, status int, code, aadsts, msg string) {
	trace, corr := standin.GUID(), standin.GUID()
	now := time.Now().UTC()
	desc := fmt.Sprintf("AADSTS%s: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, msg,
		trace, corr, now.Format("2006-01-02 15:04:05Z"))
	c.Status, c.Error, c.Description = status, code, fmt.Sprintf("AADSTS%s: %s", aadsts, msg)
	s.calls.Add(*c)
	var n int
	fmt.Sscanf(aadsts, "%d", &n)
	writeJSON(w, status, map[string]any{
		"error": code, "error_description": desc, "error_codes": []int{n},
		"timestamp": now.Format("2006-01-02 15:04:05Z"), "trace_id": trace,
		"correlation_id": corr, "error_uri": "https://login.microsoftonline.com/error?code=" + aadsts,
	})
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *server) token(w http.ResponseWriter, r *http.Request, tenant string) {
	c := call{Outcome: standin.Outcome{Service: "entra"}, Host: hostOf(r), Tenant: tenant}
	const badRequest, unauthorized = http.StatusBadRequest, http.StatusUnauthorized
	if r.Method != http.MethodPost {
		s.entraError(w, &c, badRequest, "invalid_request", "900561",
			"The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct),
		"application/x-www-form-urlencoded") {
		s.entraError(w, &c, badRequest, "invalid_request", "900144",
			"The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f, ok := standin.ReadForm(w, r)
	if !ok {
		s.entraError(w, &c, badRequest, "invalid_request", "90014",
			"The request body cannot be read.")
		return
	}
	if len(r.URL.Query()) != 0 {
		s.entraError(w, &c, badRequest, "invalid_request", "900144",
			"The parameters belong in the request body, not in the URL.")
		return
	}
	c.ClientID, c.Scope, c.GrantType = f.Get("client_id"), f.Get("scope"), f.Get("grant_type")
	c.AssertionType = f.Get("client_assertion_type")
	s.secrets.Add("clientAssertions", f.Get("client_assertion"))
	// the call records the form (and the secrets list the assertion) before the tenant is
	// looked up
	if !strings.EqualFold(tenant, s.tenant) {
		s.entraError(w, &c, badRequest, "invalid_request", "90002",
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant "+
				"ID and are signing into the correct cloud.", tenant))
		return
	}
	for _, p := range []string{"grant_type", "client_id", "scope", "client_assertion_type",
		"client_assertion"} {
		if f.Get(p) == "" {
			if p == "client_assertion" {
				s.entraError(w, &c, unauthorized, "invalid_client", "7000218",
					"The request body must contain the following parameter: "+
						"'client_assertion' or 'client_secret'.")
				return
			}
			s.entraError(w, &c, badRequest, "invalid_request", "900144",
				fmt.Sprintf("The request body must contain the following parameter: '%s'.", p))
			return
		}
	}
	if c.GrantType != "client_credentials" {
		s.entraError(w, &c, badRequest, "unsupported_grant_type", "70003",
			"The app requested an unsupported grant type '"+c.GrantType+"'.")
		return
	}
	if !guidRE.MatchString(c.ClientID) {
		s.entraError(w, &c, badRequest, "unauthorized_client", "700016",
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.",
				c.ClientID, s.tenant))
		return
	}
	trusted, known := s.federation[strings.ToLower(c.ClientID)]
	if !known {
		s.entraError(w, &c, badRequest, "unauthorized_client", "700016",
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. "+
				"This can happen if the application has not been installed by the administrator "+
				"of the tenant or consented to by any user in the tenant.", c.ClientID, s.tenant))
		return
	}
	if c.Scope != armScope {
		s.entraError(w, &c, badRequest, "invalid_scope", "1002012",
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows "+
				"must have a scope value with /.default suffixed to the resource identifier "+
				"(application ID URI).", c.Scope))
		return
	}
	if c.AssertionType != assertionType {
		s.entraError(w, &c, unauthorized, "invalid_client", "700023",
			"Client assertion type is not supported: '"+c.AssertionType+"'.")
		return
	}
	cl, refusal := s.verifier.Verify(f.Get("client_assertion"))
	if cl != nil {
		c.Iss, c.Sub, c.Aud = cl.Iss, cl.Sub, cl.Aud
	}
	if refusal != nil {
		aadsts, msg := assertionRefusal(cl, refusal)
		s.entraError(w, &c, unauthorized, "invalid_client", aadsts, msg)
		return
	}
	if !trusted[cl.Sub] {
		s.entraError(w, &c, unauthorized, "invalid_client", "70021",
			fmt.Sprintf("No matching federated identity record found for presented assertion. "+
				"Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.",
				cl.Iss, cl.Sub, strings.Join(cl.Aud, ",")))
		return
	}

	tok := "eyJ0eXAiOiJKV1QifQ." +
		base64.RawURLEncoding.EncodeToString(standin.RandomBytes(48)) + "." +
		base64.RawURLEncoding.EncodeToString(standin.RandomBytes(32))
	it := &issued{id: standin.GUID(), tenant: strings.ToLower(s.tenant),
		client:  strings.ToLower(c.ClientID),
		expires: time.Now().Add(accessTokenLifetime * time.Second)}
	s.mu.Lock()
	s.tokens[tok] = it
	s.mu.Unlock()
	s.secrets.Add("accessTokens", tok)
	c.TokenID = it.id
	c.OK, c.Status = true, http.StatusOK
	s.calls.Add(c)
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer",
		"expires_in": accessTokenLifetime, "ext_expires_in": accessTokenLifetime,
		"access_token": tok})
}

// assertionRefusal is Entra ID's AADSTS number and message for a client assertion it refuses.
func assertionRefusal(cl *standin.Claims, r *standin.Refusal) (string, string) {
	switch r.Fault {
	case standin.BadAlgorithm:
		return "5002738", "Invalid JWT token. '" + r.Alg + "' is not a supported signature algorithm."
	case standin.BadSignature:
		return "700027", "Client assertion contains an invalid signature."
	case standin.WrongIssuer:
		return "700211", fmt.Sprintf("No matching federated identity record found for "+
			"presented assertion issuer '%s'.", cl.Iss)
	case standin.WrongAudience:
		return "700212", fmt.Sprintf("No matching federated identity record found for "+
			"presented assertion audience '%s'.", strings.Join(cl.Aud, ","))
	case standin.Expired, standin.NotYetValid:
		return "700024", "Client assertion is not within its valid time range."
	}
	return "50027", "JWT token is invalid or malformed."
}

// ---- ACR ----

// acrError answers an error document as the registry's /oauth2/exchange writes it.
func (s *server) acrError(w http.ResponseWriter, c *call, status int, code, msg string) {
	c.Status, c.Error, c.Description = status, code, msg
	s.calls.Add(*c)
	writeJSON(w, status, map[string]any{"errors": []map[string]string{
		{"code": code, "message": msg}}})
}

func (s *server) exchange(w http.ResponseWriter, r *http.Request) {
	c := call{Outcome: standin.Outcome{Service: "acr"}, Host: hostOf(r)}
	if r.Method != http.MethodPost {
		s.acrError(w, &c, http.StatusMethodNotAllowed, "UNSUPPORTED", "The method is not allowed.")
		return
	}
	if c.Host != s.registryHost {
		// another registry's endpoint: not this one
		s.acrError(w, &c, http.StatusNotFound, "NAME_UNKNOWN",
			fmt.Sprintf("registry %s is not served here", c.Host))
		return
	}
	f, ok := standin.ReadForm(w, r)
	if !ok {
		s.acrError(w, &c, http.StatusBadRequest, "BADREQUEST", "the form body cannot be read")
		return
	}
	c.GrantType, c.Service2, c.Tenant = f.Get("grant_type"), f.Get("service"), f.Get("tenant")
	if c.GrantType != "access_token" {
		s.acrError(w, &c, http.StatusBadRequest, "BADREQUEST",
			fmt.Sprintf("unsupported grant_type '%s'", c.GrantType))
		return
	}
	if c.Service2 != s.registryHost {
		s.acrError(w, &c, http.StatusBadRequest, "BADREQUEST",
			fmt.Sprintf("service '%s' is not this registry's name", c.Service2))
		return
	}
	presented := f.Get("access_token")
	if presented == "" {
		s.acrError(w, &c, http.StatusBadRequest, "BADREQUEST", "access_token is required")
		return
	}
	s.mu.Lock()
	it := s.tokens[presented]
	s.mu.Unlock()
	if it == nil {
		s.acrError(w, &c, http.StatusUnauthorized, "UNAUTHORIZED",
			"The access token is not valid: it was not issued by the tenant's authority.")
		return
	}
	c.ClientID, c.TokenID = it.client, it.id
	if time.Now().After(it.expires) {
		s.acrError(w, &c, http.StatusUnauthorized, "UNAUTHORIZED", "The access token has expired.")
		return
	}
	if !strings.EqualFold(c.Tenant, it.tenant) {
		s.acrError(w, &c, http.StatusUnauthorized, "UNAUTHORIZED",
			fmt.Sprintf("The access token's tenant does not match the tenant '%s'.", c.Tenant))
		return
	}
	c.OK, c.Status = true, http.StatusOK
	s.calls.Add(c)
	writeJSON(w, http.StatusOK, map[string]string{"refresh_token": s.acrPassword})
}

// ---- set-up ----

func main() {
	common := standin.RegisterFlags("serving certificate (PEM; names 127.0.0.1 and the registry host)")
	tenant := flag.String("tenant", "", "the tenant (directory) ID, a GUID")
	registryHost := flag.String("registry-host", "", "the registry's host, e.g. NAME.azurecr.io")
	upstream := flag.String("registry-upstream", "", "URL of the registry /v2/ is proxied to")
	acrPassword := flag.String("acr-password", "", "the ACR refresh token handed out")
	var feds standin.ListFlag
	flag.Var(&feds, "federation", "CLIENT=SUBJECT: the application CLIENT trusts tokens of that subject (repeatable)")
	flag.Parse()
	standin.Require("tls-cert", "tls-key", "sa-public-key", "issuer", "tenant", "registry-host",
		"registry-upstream", "acr-password")
	if !guidRE.MatchString(*tenant) {
		log.Fatalf("-tenant %q is not a GUID", *tenant)
	}
	verifier := common.Verifier(tokenAudience)
	federation := standin.Trust("federation", feds, "CLIENT=SUBJECT with a GUID client ID",
		func(client string) (string, bool) {
			return strings.ToLower(client), guidRE.MatchString(client)
		})
	up, err := url.Parse(*upstream)
	if err != nil || up.Scheme == "" || up.Host == "" {
		log.Fatalf("-registry-upstream %q is not a URL", *upstream)
	}
	// The registry sees the Host the client named and X-Forwarded-Proto https, so the upload
	// locations it answers point back at the registry's name through this front.
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(up)
		pr.Out.Host = pr.In.Host
		pr.SetXForwarded()
	}}
	s := &server{verifier: verifier, tenant: strings.ToLower(*tenant),
		federation: federation, registryHost: strings.ToLower(*registryHost),
		acrPassword: *acrPassword, proxy: proxy, tokens: map[string]*issued{},
		secrets: standin.NewSecrets("clientAssertions", "accessTokens", "refreshTokens")}
	s.secrets.Add("refreshTokens", *acrPassword)
	common.Serve(standin.Handler(&s.calls, s.secrets, s),
		"azurestandin serving Entra ID and ACR "+s.registryHost)
}
