package standin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"log"
	"net/http"
	"net/url"
)

// MaxBody is the largest request body a stand-in reads.
const MaxBody = 64 << 10

// ReadForm reads the request's form body (at most MaxBody bytes); false when it cannot be read.
func ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	return r.PostForm, true
}

// WriteJSON answers v as JSON with status and the Content-Type contentType; headers set on w
// before stay.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body)
}

// WriteXML answers v as an XML document (text/xml, with the XML declaration) with status;
// headers set on w before stay.
func WriteXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	w.Write(body)
}

// RandomBytes is n bytes from crypto/rand; the program ends when there are none.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return b
}

// GUID is a random identifier in the 8-4-4-4-12 hex form of request, trace and token IDs.
func GUID() string {
	h := hex.EncodeToString(RandomBytes(16))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
