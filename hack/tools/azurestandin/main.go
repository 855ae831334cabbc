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
// hack/peers.sh into the tools cache.
package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

const (
	tokenAudience       = "api://AzureADTokenExchange"
	armScope            = "https://management.azure.com/.default"
	assertionType       = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	accessTokenLifetime = 3599
	maxBody             = 64 << 10
	maxClockSkew        = 5 * time.Minute
)

// call is one request as the tests read it from /_standin/calls. No secret is kept here: not
// the client assertion, not an access token, not the refresh token.
type call struct {
	Service       string   `json:"service"` // "entra" or "acr"
	Time          string   `json:"time"`
	OK            bool     `json:"ok"`
	Status        int      `json:"status"`
	Error         string   `json:"error,omitempty"`             // the error code answered
	Description   string   `json:"error_description,omitempty"` // the message answered
	Host          string   `json:"host,omitempty"`              // the Host the request named
	Tenant        string   `json:"tenant,omitempty"`            // entra: the path's; acr: the form's
	ClientID      string   `json:"client_id,omitempty"`         // entra: the form's; acr: the token's
	Scope         string   `json:"scope,omitempty"`             // entra
	GrantType     string   `json:"grant_type,omitempty"`
	AssertionType string   `json:"client_assertion_type,omitempty"` // entra
	Iss           string   `json:"iss,omitempty"`                   // entra: the assertion's claims
	Sub           string   `json:"sub,omitempty"`
	Aud           []string `json:"aud,omitempty"`
	Service2      string   `json:"acr_service,omitempty"` // acr: the form's service
	TokenID       string   `json:"token_id,omitempty"`    // entra: issued; acr: presented
}

// issued is an access token handed out here (by its value).
type issued struct {
	id, tenant, client string
	expires            time.Time
}

type server struct {
	key          *rsa.PublicKey
	issuer       string
	tenant       string
	federation   map[string]map[string]bool // client ID (lower case) -> subjects it trusts
	registryHost string
	acrPassword  string
	proxy        http.Handler

	mu         sync.Mutex
	calls      []call
	assertions []string           // every client assertion received, for /_standin/secrets
	tokens     map[string]*issued // access tokens handed out
}

func (s *server) record(c call) {
	c.Time = time.Now().UTC().Format(time.RFC3339Nano)
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if c.OK {
		log.Printf("%s ok client=%q tenant=%q sub=%q token=%s", c.Service, c.ClientID, c.Tenant,
			c.Sub, c.TokenID)
	} else {
		log.Printf("%s %d %s: %s", c.Service, c.Status, c.Error, c.Description)
	}
}

var tokenPathRE = regexp.MustCompile(`^/([^/]+)/oauth2/v2\.0/token$`)

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_standin/calls":
		s.mu.Lock()
		body, _ := json.Marshal(map[string]any{"calls": append([]call{}, s.calls...)})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	case r.Method == http.MethodGet && r.URL.Path == "/_standin/secrets":
		s.secrets(w)
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

// secrets answers every secret this stand-in has received or handed out, so that a test can
// assert that none of them leaked into what the client shows (statuses, events, logs).
func (s *server) secrets(w http.ResponseWriter) {
	out := map[string][]string{"clientAssertions": {}, "accessTokens": {},
		"refreshTokens": {s.acrPassword}}
	s.mu.Lock()
	out["clientAssertions"] = append(out["clientAssertions"], s.assertions...)
	for tok := range s.tokens {
		out["accessTokens"] = append(out["accessTokens"], tok)
	}
	s.mu.Unlock()
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return b
}

func guid() string {
	h := hex.EncodeToString(randomBytes(16))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	w.Write(body)
}

// hostOf is the request's Host without a default https port.
func hostOf(r *http.Request) string {
	return strings.TrimSuffix(strings.ToLower(r.Host), ":443")
}

// ---- Entra ID ----

// entraError answers an error document as Entra ID's token endpoint writes it: the code, the
// description starting with its AADSTS number, the trace and correlation IDs and the time.
func (s *server) entraError(w http.ResponseWriter, c *call, status int, code, aadsts, msg string) {
	trace, corr := guid(), guid()
	now := time.Now().UTC()
	desc := fmt.Sprintf("AADSTS%s: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, msg,
		trace, corr, now.Format("2006-01-02 15:04:05Z"))
	c.Status, c.Error, c.Description = status, code, fmt.Sprintf("AADSTS%s: %s", aadsts, msg)
	s.record(*c)
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
	c := call{Service: "entra", Host: hostOf(r), Tenant: tenant}
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
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.entraError(w, &c, badRequest, "invalid_request", "90014",
			"The request body cannot be read.")
		return
	}
	f := r.PostForm
	if len(r.URL.Query()) != 0 {
		s.entraError(w, &c, badRequest, "invalid_request", "900144",
			"The parameters belong in the request body, not in the URL.")
		return
	}
	c.ClientID, c.Scope, c.GrantType = f.Get("client_id"), f.Get("scope"), f.Get("grant_type")
	c.AssertionType = f.Get("client_assertion_type")
	if t := f.Get("client_assertion"); t != "" {
		s.mu.Lock()
		s.assertions = append(s.assertions, t)
		s.mu.Unlock()
	}
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
	cl, aadsts, msg := s.verifyAssertion(f.Get("client_assertion"))
	if cl != nil {
		c.Iss, c.Sub, c.Aud = cl.Iss, cl.Sub, cl.Aud
	}
	if aadsts != "" {
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

	tok := "eyJ0eXAiOiJKV1QifQ." + base64.RawURLEncoding.EncodeToString(randomBytes(48)) + "." +
		base64.RawURLEncoding.EncodeToString(randomBytes(32))
	it := &issued{id: guid(), tenant: strings.ToLower(s.tenant),
		client:  strings.ToLower(c.ClientID),
		expires: time.Now().Add(accessTokenLifetime * time.Second)}
	s.mu.Lock()
	s.tokens[tok] = it
	s.mu.Unlock()
	c.TokenID = it.id
	c.OK, c.Status = true, http.StatusOK
	s.record(c)
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer",
		"expires_in": accessTokenLifetime, "ext_expires_in": accessTokenLifetime,
		"access_token": tok})
}

type claims struct {
	Iss string
	Sub string
	Aud []string
	Exp int64
	Nbf int64
}

// verifyAssertion checks a client assertion as Entra ID checks the token of a federated
// identity credential's issuer. Returns the claims that could be read (nil when none) and,
// when the assertion is refused, the AADSTS number and message.
func (s *server) verifyAssertion(tok string) (*claims, string, string) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, "50027", "JWT token is invalid or malformed."
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &hdr) != nil {
		return nil, "50027", "JWT token is invalid or malformed."
	}
	if hdr.Alg != "RS256" {
		return nil, "5002738", "Invalid JWT token. '" + hdr.Alg + "' is not a supported signature algorithm."
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, "50027", "JWT token is invalid or malformed."
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.key, crypto.SHA256, digest[:], sig) != nil {
		return nil, "700027", "Client assertion contains an invalid signature."
	}
	raw, err = base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, "50027", "JWT token is invalid or malformed."
	}
	var p struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
		Nbf json.Number     `json:"nbf"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return nil, "50027", "JWT token is invalid or malformed."
	}
	cl := &claims{Iss: p.Iss, Sub: p.Sub}
	var one string
	if json.Unmarshal(p.Aud, &one) == nil {
		cl.Aud = []string{one}
	} else if json.Unmarshal(p.Aud, &cl.Aud) != nil {
		return cl, "50027", "JWT token is invalid or malformed."
	}
	if cl.Exp, err = p.Exp.Int64(); err != nil {
		return cl, "50027", "JWT token is invalid or malformed."
	}
	if p.Nbf != "" {
		if cl.Nbf, err = p.Nbf.Int64(); err != nil {
			return cl, "50027", "JWT token is invalid or malformed."
		}
	}
	if cl.Iss != s.issuer {
		return cl, "700211", fmt.Sprintf("No matching federated identity record found for "+
			"presented assertion issuer '%s'.", cl.Iss)
	}
	audOK := false
	for _, a := range cl.Aud {
		audOK = audOK || a == tokenAudience
	}
	if !audOK {
		return cl, "700212", fmt.Sprintf("No matching federated identity record found for "+
			"presented assertion audience '%s'.", strings.Join(cl.Aud, ","))
	}
	now := time.Now()
	if now.Unix() >= cl.Exp || (cl.Nbf != 0 && now.Add(maxClockSkew).Unix() < cl.Nbf) {
		return cl, "700024", "Client assertion is not within its valid time range."
	}
	if cl.Sub == "" {
		return cl, "50027", "JWT token is invalid or malformed."
	}
	return cl, "", ""
}

// ---- ACR ----

// acrError answers an error document as the registry's /oauth2/exchange writes it.
func (s *server) acrError(w http.ResponseWriter, c *call, status int, code, msg string) {
	c.Status, c.Error, c.Description = status, code, msg
	s.record(*c)
	writeJSON(w, status, map[string]any{"errors": []map[string]string{
		{"code": code, "message": msg}}})
}

func (s *server) exchange(w http.ResponseWriter, r *http.Request) {
	c := call{Service: "acr", Host: hostOf(r)}
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
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.acrError(w, &c, http.StatusBadRequest, "BADREQUEST", "the form body cannot be read")
		return
	}
	f := r.PostForm
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
	s.record(c)
	writeJSON(w, http.StatusOK, map[string]string{"refresh_token": s.acrPassword})
}

// ---- set-up ----

func readPublicKey(path string) (*rsa.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an RSA key", path)
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	}
	return nil, fmt.Errorf("%s: PEM block %q is not a public key", path, block.Type)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	certFile := flag.String("tls-cert", "", "serving certificate (PEM; names 127.0.0.1 and the registry host)")
	keyFile := flag.String("tls-key", "", "serving key (PEM)")
	saKey := flag.String("sa-public-key", "", "the API server's service-account public key (PEM RSA)")
	issuer := flag.String("issuer", "", "the API server's --service-account-issuer")
	tenant := flag.String("tenant", "", "the tenant (directory) ID, a GUID")
	registryHost := flag.String("registry-host", "", "the registry's host, e.g. NAME.azurecr.io")
	upstream := flag.String("registry-upstream", "", "URL of the registry /v2/ is proxied to")
	acrPassword := flag.String("acr-password", "", "the ACR refresh token handed out")
	var feds listFlag
	flag.Var(&feds, "federation", "CLIENT=SUBJECT: the application CLIENT trusts tokens of that subject (repeatable)")
	flag.Parse()
	if *certFile == "" || *keyFile == "" || *saKey == "" || *issuer == "" || *tenant == "" ||
		*registryHost == "" || *upstream == "" || *acrPassword == "" {
		log.Fatal("-tls-cert, -tls-key, -sa-public-key, -issuer, -tenant, -registry-host, " +
			"-registry-upstream and -acr-password are required")
	}
	if !guidRE.MatchString(*tenant) {
		log.Fatalf("-tenant %q is not a GUID", *tenant)
	}
	key, err := readPublicKey(*saKey)
	if err != nil {
		log.Fatal(err)
	}
	federation := map[string]map[string]bool{}
	for _, fd := range feds {
		client, sub, ok := strings.Cut(fd, "=")
		if !ok || !guidRE.MatchString(client) || sub == "" {
			log.Fatalf("-federation %q: want CLIENT=SUBJECT with a GUID client ID", fd)
		}
		client = strings.ToLower(client)
		if federation[client] == nil {
			federation[client] = map[string]bool{}
		}
		federation[client][sub] = true
	}
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
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	s := &server{key: key, issuer: *issuer, tenant: strings.ToLower(*tenant),
		federation: federation, registryHost: strings.ToLower(*registryHost),
		acrPassword: *acrPassword, proxy: proxy, tokens: map[string]*issued{}}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("https://%s\n", ln.Addr())
	os.Stdout.Sync()
	log.Printf("azurestandin serving Entra ID and ACR %s on https://%s", s.registryHost, ln.Addr())
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	log.Fatal(hs.ServeTLS(ln, "", ""))
}
