// Command refregistry is a test peer: an in-memory OCI registry with the OCI 1.1 referrers API
// and HTTP Basic auth, for the e2e tests of referrer delivery and cosign v3 bundles (Debian's
// docker-registry 2.8 has no referrers API). The registry itself is
// github.com/google/go-containerregistry/pkg/registry with its referrers support on; this
// wrapper adds what that package leaves out and the tests rely on:
//   - Basic auth (-user/-password) on every /v2/ request (401 with a Basic challenge);
//   - the OCI-Subject header on the answer to a manifest PUT that names a subject, so clients
//     know the registry indexes it (and do not write the tag-schema fallback index);
//   - referrer descriptors carrying the manifest's artifactType (the package reports the
//     config media type) and annotations, the artifactType filter with OCI-Filters-Applied,
//     and an empty index (not 404) for a repository that does not exist yet.
//
// Never part of the product; built by hack/peers.sh into the tools cache.
package main

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type manifestFields struct {
	ArtifactType string            `json:"artifactType"`
	Config       *descriptor       `json:"config"`
	Subject      *descriptor       `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

type server struct {
	inner          http.Handler
	user, password string
}

func (s *server) authorized(r *http.Request) bool {
	if s.user == "" {
		return true
	}
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(s.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(p), []byte(s.password)) == 1
}

// repoAndLast splits /v2/<repo>/<kind>/<last> into repo and last when kind matches.
func repoAndLast(path, kind string) (string, string, bool) {
	if !strings.HasPrefix(path, "/v2/") {
		return "", "", false
	}
	elems := strings.Split(strings.TrimPrefix(path, "/v2/"), "/")
	if len(elems) < 3 || elems[len(elems)-2] != kind {
		return "", "", false
	}
	return strings.Join(elems[:len(elems)-2], "/"), elems[len(elems)-1], true
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v2") && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="refregistry"`)
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`,
			http.StatusUnauthorized)
		return
	}
	if repo, target, ok := repoAndLast(r.URL.Path, "referrers"); ok && r.Method == http.MethodGet {
		s.referrers(w, r, repo, target)
		return
	}
	if _, _, ok := repoAndLast(r.URL.Path, "manifests"); ok && r.Method == http.MethodPut {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20+1))
		if err != nil || len(body) > 4<<20 {
			http.Error(w, "manifest too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m manifestFields
		if json.Unmarshal(body, &m) == nil && m.Subject != nil && m.Subject.Digest != "" {
			w.Header().Set("OCI-Subject", m.Subject.Digest)
		}
	}
	s.inner.ServeHTTP(w, r)
}

// referrers answers from the package's referrers list, completing each descriptor from its
// manifest and applying the artifactType filter.
func (s *server) referrers(w http.ResponseWriter, r *http.Request, repo, target string) {
	rec := httptest.NewRecorder()
	inner := r.Clone(r.Context())
	inner.URL.RawQuery = ""
	s.inner.ServeHTTP(rec, inner)
	out := index{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json",
		Manifests: []descriptor{}}
	if rec.Code == http.StatusOK {
		var got index
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			http.Error(w, "bad referrers index", http.StatusInternalServerError)
			return
		}
		want := r.URL.Query().Get("artifactType")
		for _, d := range got.Manifests {
			mrec := httptest.NewRecorder()
			mreq := httptest.NewRequest(http.MethodGet, "/v2/"+repo+"/manifests/"+d.Digest, nil)
			s.inner.ServeHTTP(mrec, mreq)
			var m manifestFields
			if mrec.Code != http.StatusOK || json.Unmarshal(mrec.Body.Bytes(), &m) != nil {
				continue
			}
			d.ArtifactType = m.ArtifactType
			if d.ArtifactType == "" && m.Config != nil {
				d.ArtifactType = m.Config.MediaType
			}
			d.Annotations = m.Annotations
			if want != "" && d.ArtifactType != want {
				continue
			}
			out.Manifests = append(out.Manifests, d)
		}
		if want != "" {
			w.Header().Set("OCI-Filters-Applied", "artifactType")
		}
	} else if rec.Code != http.StatusNotFound {
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	body, _ := json.Marshal(&out)
	w.Header().Set("Content-Type", out.MediaType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	user := flag.String("user", "", "Basic auth user (empty: no auth)")
	passwordEnv := flag.String("password-env", "REFREGISTRY_PASSWORD",
		"environment variable holding the Basic auth password")
	portFile := flag.String("port-file", "", "write the port listened on to this file")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile+".tmp", []byte(fmt.Sprint(port)), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(*portFile+".tmp", *portFile); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("refregistry serving on %s", ln.Addr())
	s := &server{
		inner:    registry.New(registry.WithReferrersSupport(true)),
		user:     *user,
		password: os.Getenv(*passwordEnv),
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(hs.Serve(ln))
}
