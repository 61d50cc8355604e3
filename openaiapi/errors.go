package openaiapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// apiError is an error of these routes in OpenAI's shape:
// {"error": {"message", "type", "param", "code"}}.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

// invalid is a 400 about the request.
func invalid(param, msg string) *apiError {
	e := &apiError{Status: http.StatusBadRequest, Message: msg, Type: "invalid_request_error"}
	if param != "" {
		e.Param = &param
	}
	return e
}

// modelNotFound is the 404 of an unknown model id.
func modelNotFound(id string) *apiError {
	code := "model_not_found"
	return &apiError{Status: http.StatusNotFound, Message: "The model `" + id + "` does not exist: GET /v1/models lists the agents and workflows you may run.",
		Type: "invalid_request_error", Code: &code}
}

// openAIError turns err into an apiError: an apiError as it is, a problem
// of the api package (a huma.StatusError) with its status and the type and
// code OpenAI gives that status. A 422 (the input does not fit the agent's
// schema, an Idempotency-Key reused with another request) becomes OpenAI's
// 400.
func openAIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	status, msg := http.StatusInternalServerError, "internal error; the server logs have the details"
	var se huma.StatusError
	if errors.As(err, &se) {
		status, msg = se.GetStatus(), se.Error()
	}
	var em *huma.ErrorModel
	if errors.As(err, &em) {
		for _, d := range em.Errors {
			msg += "; " + strings.TrimSpace(d.Location+" "+d.Message)
		}
	}
	e := &apiError{Status: status, Message: msg}
	var code string
	switch status {
	case http.StatusUnauthorized:
		e.Type, code = "invalid_request_error", "invalid_api_key"
	case http.StatusForbidden:
		e.Type, code = "permission_error", "insufficient_permissions"
	case http.StatusNotFound:
		e.Type, code = "invalid_request_error", "not_found"
	case http.StatusConflict:
		e.Type, code = "invalid_request_error", "conflict"
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		e.Status, e.Type = http.StatusBadRequest, "invalid_request_error"
	case http.StatusTooManyRequests:
		e.Type, code = "rate_limit_error", "rate_limit_exceeded"
	case http.StatusServiceUnavailable:
		e.Type, code = "server_error", "service_unavailable"
	default:
		e.Type = "server_error"
	}
	if code != "" {
		e.Code = &code
	}
	return e
}

// writeError answers err in OpenAI's shape, with the headers (Retry-After)
// an api problem carries.
func writeError(w http.ResponseWriter, err error) {
	var he huma.HeadersError
	if errors.As(err, &he) {
		for k, values := range he.GetHeaders() {
			for _, v := range values {
				w.Header().Add(k, v)
			}
		}
	}
	e := openAIError(err)
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}
