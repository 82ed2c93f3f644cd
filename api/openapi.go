package api

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3.0 document of the API; TestOpenAPIMatchesRoutes keeps its paths
// and methods equal to Routes.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the API's OpenAPI 3.0 document.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request, _ Key) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDoc)
	return nil
}
