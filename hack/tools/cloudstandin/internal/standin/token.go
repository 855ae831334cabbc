package standin

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// MaxClockSkew is how far a token's nbf (and an AWS signature's time) may be ahead.
const MaxClockSkew = 5 * time.Minute

// Claims are the claims of a ServiceAccount token that the stand-ins check.
type Claims struct {
	Iss string
	Sub string
	Aud []string
	Exp int64
	Nbf int64
}

// Fault is why a token is refused; each cloud says it in its own words and codes.
type Fault int

// The faults, in the order Verify checks them.
const (
	NotJWT               Fault = iota + 1 // not three dot-separated parts
	BadHeader                             // the header is not base64url JSON
	BadAlgorithm                          // the header's alg is not RS256 (Refusal.Alg)
	BadSignatureEncoding                  // the signature is not base64url
	BadSignature                          // RS256 with the key does not verify
	BadPayload                            // the payload is not base64url JSON
	BadAudienceClaim                      // aud is neither a string nor a list of strings
	NoExpiry                              // exp is missing or not a number
	BadNotBefore                          // nbf is there but not a number
	WrongIssuer                           // iss is not the Verifier's
	WrongAudience                         // no aud is the Verifier's
	Expired                               // exp has passed (Refusal.Now)
	NotYetValid                           // nbf is more than MaxClockSkew ahead
	NoSubject                             // sub is missing
)

// Refusal is a refused token: the fault and what a message about it may name.
type Refusal struct {
	Fault Fault
	Alg   string // BadAlgorithm: the header's alg
	Now   int64  // Expired: the time of the check, Unix seconds
}

// Verifier checks a Kubernetes ServiceAccount token the way a cloud checks the token of an
// OpenID Connect issuer it trusts: RS256 with the API server's service-account public key,
// the issuer, the audience, exp and nbf, and a subject. Who the subject may be is the
// cloud's rule, checked by its caller.
type Verifier struct {
	Key      *rsa.PublicKey
	Issuer   string
	Audience string
}

// Verify returns the claims that could be read (nil when none) and, when the token is
// refused, why (nil when it is accepted).
func (v *Verifier) Verify(tok string) (*Claims, *Refusal) {
	refuse := func(f Fault) *Refusal { return &Refusal{Fault: f} }
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, refuse(NotJWT)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &hdr) != nil {
		return nil, refuse(BadHeader)
	}
	if hdr.Alg != "RS256" {
		return nil, &Refusal{Fault: BadAlgorithm, Alg: hdr.Alg}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, refuse(BadSignatureEncoding)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(v.Key, crypto.SHA256, digest[:], sig) != nil {
		return nil, refuse(BadSignature)
	}
	raw, err = base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, refuse(BadPayload)
	}
	var p struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
		Nbf json.Number     `json:"nbf"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return nil, refuse(BadPayload)
	}
	cl := &Claims{Iss: p.Iss, Sub: p.Sub}
	var one string
	if json.Unmarshal(p.Aud, &one) == nil {
		cl.Aud = []string{one}
	} else if json.Unmarshal(p.Aud, &cl.Aud) != nil {
		return cl, refuse(BadAudienceClaim)
	}
	if cl.Exp, err = p.Exp.Int64(); err != nil {
		return cl, refuse(NoExpiry)
	}
	if p.Nbf != "" {
		if cl.Nbf, err = p.Nbf.Int64(); err != nil {
			return cl, refuse(BadNotBefore)
		}
	}
	if cl.Iss != v.Issuer {
		return cl, refuse(WrongIssuer)
	}
	audOK := false
	for _, a := range cl.Aud {
		audOK = audOK || a == v.Audience
	}
	if !audOK {
		return cl, refuse(WrongAudience)
	}
	now := time.Now()
	if now.Unix() >= cl.Exp {
		return cl, &Refusal{Fault: Expired, Now: now.Unix()}
	}
	if cl.Nbf != 0 && now.Add(MaxClockSkew).Unix() < cl.Nbf {
		return cl, refuse(NotYetValid)
	}
	if cl.Sub == "" {
		return cl, refuse(NoSubject)
	}
	return cl, nil
}
