package eventbus

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a Bus served on a free loopback port.
type Server struct {
	*Bus
	// URL is the functions' AWS_ENDPOINT_URL_EVENTBRIDGE.
	URL string
	srv *http.Server
}

// Start serves a new Bus on 127.0.0.1 (a free port); Stop stops it.
func Start(o Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("local event bus: %w", err)
	}
	b := New(o)
	s := &Server{Bus: b, URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Env is the functions' endpoint variable for EventBridge.
func (s *Server) Env() string { return "AWS_ENDPOINT_URL_EVENTBRIDGE=" + s.URL }

// Stop stops serving, then forwarding.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.Close()
}
