package standin

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Flags are the flags every stand-in takes: where it listens, its serving key pair and the
// API server's service-account public key and issuer.
type Flags struct {
	addr, certFile, keyFile, saKey, issuer *string
}

// RegisterFlags defines -addr, -tls-cert (described as certHelp), -tls-key, -sa-public-key
// and -issuer on the command line's flag set.
func RegisterFlags(certHelp string) *Flags {
	return &Flags{
		addr:     flag.String("addr", "127.0.0.1:0", "address to listen on (port 0: any free port)"),
		certFile: flag.String("tls-cert", "", certHelp),
		keyFile:  flag.String("tls-key", "", "serving key (PEM)"),
		saKey:    flag.String("sa-public-key", "", "the API server's service-account public key (PEM RSA)"),
		issuer:   flag.String("issuer", "", "the API server's --service-account-issuer"),
	}
}

// Verifier checks ServiceAccount tokens of -issuer signed with -sa-public-key for audience;
// the program ends when the key cannot be read.
func (f *Flags) Verifier(audience string) *Verifier {
	key, err := ReadPublicKey(*f.saKey)
	if err != nil {
		log.Fatal(err)
	}
	return &Verifier{Key: key, Issuer: *f.issuer, Audience: audience}
}

// Serve answers h over HTTPS on -addr with -tls-cert and -tls-key: it prints the URL on one
// line on stdout once it listens (the tests read it), logs "BANNER on URL" and serves until
// the program ends.
func (f *Flags) Serve(h http.Handler, banner string) {
	cert, err := tls.LoadX509KeyPair(*f.certFile, *f.keyFile)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *f.addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("https://%s\n", ln.Addr())
	os.Stdout.Sync()
	log.Printf("%s on https://%s", banner, ln.Addr())
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	log.Fatal(hs.ServeTLS(ln, "", ""))
}

// Require ends the program with "-A, -B and -C are required" when one of the named flags
// is empty.
func Require(names ...string) {
	for _, n := range names {
		if flag.Lookup(n).Value.String() == "" {
			list := "-" + strings.Join(names[:len(names)-1], ", -") + " and -" + names[len(names)-1]
			log.Fatal(list + " are required")
		}
	}
}

// ListFlag is a repeatable flag: every value given, in order.
type ListFlag []string

func (l *ListFlag) String() string     { return strings.Join(*l, ",") }
func (l *ListFlag) Set(v string) error { *l = append(*l, v); return nil }

// Trust reads the KEY=SUBJECT values of the repeatable flag -name into KEY -> the subjects
// it trusts. key checks a KEY and returns it as it is looked up (e.g. in lower case); a value
// without "=", with an empty subject or with a KEY that key refuses ends the program with
// `-name "VALUE": want`.
func Trust(name string, values ListFlag, want string,
	key func(string) (string, bool)) map[string]map[string]bool {
	trust := map[string]map[string]bool{}
	for _, v := range values {
		k, sub, ok := strings.Cut(v, "=")
		if ok {
			k, ok = key(k)
		}
		if !ok || sub == "" {
			log.Fatalf("-%s %q: want %s", name, v, want)
		}
		if trust[k] == nil {
			trust[k] = map[string]bool{}
		}
		trust[k][sub] = true
	}
	return trust
}

// ReadPublicKey reads an RSA public key from a PEM file (PUBLIC KEY or RSA PUBLIC KEY).
func ReadPublicKey(path string) (*rsa.PublicKey, error) {
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
