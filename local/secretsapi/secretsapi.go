// Package secretsapi is a local stand-in for the AWS Secrets Manager API, served on a loopback
// port: no Secrets Manager emulator is available from the package registries this project
// uses. The functions read their secrets with the real AWS SDK pointed at it
// (AWS_ENDPOINT_URL_SECRETS_MANAGER), exactly as they read the deployed secret.
//
// It speaks the API's JSON 1.1 protocol for GetSecretValue, PutSecretValue and DescribeSecret
// (enough for the functions and for `aws secretsmanager put-secret-value --endpoint-url ...`
// to rotate a value by hand); requests are not signature-checked.
package secretsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server holds secrets by ARN and by name.
type Server struct {
	mu      sync.Mutex
	secrets map[string]*secret // by ARN and by name
	srv     *http.Server
	ln      net.Listener
}

type secret struct {
	arn, name string
	value     string
	version   int
	created   time.Time
}

// New returns a server without secrets; Add them, then Start it (or use it as an
// http.Handler).
func New() *Server {
	return &Server{secrets: map[string]*secret{}}
}

// ARN returns the local ARN of the secret called name.
func ARN(name string) string {
	return "arn:aws:secretsmanager:us-east-1:000000000000:secret:" + name
}

// Add creates (or replaces) the secret name with value; it answers to name and to ARN(name).
func (s *Server) Add(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := &secret{arn: ARN(name), name: name, value: value, version: 1, created: time.Now()}
	s.secrets[sec.arn] = sec
	s.secrets[name] = sec
}

// Put stores a new current value of an existing secret (a rotation).
func (s *Server) Put(id, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[id]
	if !ok {
		return fmt.Errorf("no secret %s", id)
	}
	sec.value = value
	sec.version++
	return nil
}

// Start listens on 127.0.0.1:port (0 = a free port) and serves until Close.
func (s *Server) Start(port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("secrets manager stand-in: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// URL is the endpoint to give the SDK (AWS_ENDPOINT_URL_SECRETS_MANAGER); Start first.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Env is the environment pointing the AWS SDK at the server.
func (s *Server) Env() []string { return []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.URL()} }

// Close stops the server.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// ServeHTTP answers one API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		apiError(w, http.StatusMethodNotAllowed, "InvalidRequestException", "POST only")
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if !ok {
		apiError(w, http.StatusBadRequest, "InvalidAction", "missing X-Amz-Target")
		return
	}
	var in struct {
		SecretID     string `json:"SecretId"`
		SecretString *string
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestException", "body is not JSON")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, found := s.secrets[in.SecretID]
	if !found {
		apiError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	switch op {
	case "GetSecretValue":
		writeJSON(w, map[string]any{
			"ARN": sec.arn, "Name": sec.name, "SecretString": sec.value, "VersionId": versionID(sec.version),
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": float64(sec.created.Unix()),
		})
	case "PutSecretValue":
		if in.SecretString == nil {
			apiError(w, http.StatusBadRequest, "InvalidRequestException", "SecretString is required")
			return
		}
		sec.value = *in.SecretString
		sec.version++
		writeJSON(w, map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": versionID(sec.version), "VersionStages": []string{"AWSCURRENT"}})
	case "DescribeSecret":
		writeJSON(w, map[string]any{"ARN": sec.arn, "Name": sec.name, "CreatedDate": float64(sec.created.Unix())})
	default:
		apiError(w, http.StatusBadRequest, "InvalidAction", errors.New("unsupported operation "+op).Error())
	}
}

func versionID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
