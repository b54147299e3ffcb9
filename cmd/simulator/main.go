// Command simulator runs the Meta (Instagram Graph API and Instagram Login) simulator used by
// the local stack: point GRAPH_API_URL of the functions at it. See package metasim for the
// endpoints and the fault controls.
//
//	go run ./cmd/simulator -addr 127.0.0.1:4590 -webhook-url http://127.0.0.1:3000/webhooks/instagram
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/iginbox/iginbox/local/metasim"
)

func main() {
	if err := run(os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("simulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4590", "listen address")
	webhookURL := fs.String("webhook-url", "", "where echo, /_sim/message and /_sim/read webhooks are posted")
	accountDefault := getenv("DEV_INSTAGRAM_ACCOUNT_ID")
	if accountDefault == "" {
		accountDefault = metasim.DefaultAccountID
	}
	accountID := fs.String("account-id", accountDefault, "account id the authorize page connects (env DEV_INSTAGRAM_ACCOUNT_ID)")
	username := fs.String("username", "iginbox_dev", "username of that account")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	sim := metasim.New(metasim.Config{
		AppSecret:  getenv("INSTAGRAM_APP_SECRET"),
		AccountID:  *accountID,
		Username:   *username,
		WebhookURL: *webhookURL,
	})
	srv := &http.Server{Addr: *addr, Handler: logRequests(sim, log), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("meta simulator listening", "addr", *addr, "account_id", *accountID, "webhook_url", *webhookURL)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequests logs method, path and status: never the query string (tokens travel there).
func logRequests(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Info("sim request", "method", r.Method, "path", r.URL.Path, "status", rec.status)
	})
}
