package satoken

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/podidentity/podidentity/internal/podidentity"
)

const (
	// tokenReviewTTL is how long a positive TokenReview answer is reused
	// for the same token. TokenReview exists to notice what a signature
	// cannot show, chiefly that the pod was deleted, so its answer must not
	// be kept for long; but every container of a pod asks with the same
	// token within the same second or two as the pod starts, and the agent
	// retries, so a few seconds spare the API server most of those calls.
	// Five seconds is nothing next to the cluster's own tolerance: the API
	// server keeps accepting a pod's token until a minute after the pod's
	// deletion timestamp, itself the end of its grace period (30 s by
	// default). Negative answers are never cached: a token the cluster
	// rejected is asked about again, in case the rejection was transient.
	tokenReviewTTL = 5 * time.Second
	// tokenReviewTimeout bounds one TokenReview call, which runs detached
	// from the request so that concurrent callers can share it.
	tokenReviewTimeout = 5 * time.Second
	// tokenReviewPath is where the API server takes TokenReviews.
	tokenReviewPath = "/apis/authentication.k8s.io/v1/tokenreviews"
	// podUIDExtra is the user extra the API server sets for a pod-bound
	// service account token.
	podUIDExtra = "authentication.kubernetes.io/pod-uid"
)

// The authentication.k8s.io/v1 TokenReview, reduced to the fields used.
// These mirror k8s.io/api/authentication/v1 field for field; that package
// is not imported because it drags in apimachinery, gogo/protobuf and a
// dozen more modules for one five-field JSON body. testdata holds the
// request and responses as the API server really sends them.
type tokenReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Spec       tokenReviewSpec    `json:"spec"`
	Status     *tokenReviewStatus `json:"status,omitempty"`
}

type tokenReviewSpec struct {
	Token     string   `json:"token"`
	Audiences []string `json:"audiences,omitempty"`
}

type tokenReviewStatus struct {
	Authenticated bool     `json:"authenticated"`
	User          userInfo `json:"user"`
	Audiences     []string `json:"audiences"`
	Error         string   `json:"error"`
}

type userInfo struct {
	Username string              `json:"username"`
	UID      string              `json:"uid"`
	Groups   []string            `json:"groups"`
	Extra    map[string][]string `json:"extra"`
}

// tokenReviewer asks one cluster's API server about tokens.
type tokenReviewer struct {
	cluster   string
	url       string
	client    *http.Client
	tokenFile string
	log       *slog.Logger
	group     singleflight.Group // keyed by the token under review

	mu      sync.Mutex // guards the bearer token read from tokenFile
	bearer  string
	modTime time.Time
	size    int64
}

func newTokenReviewer(cluster string, cfg *TokenReviewConfig, caFile string, base *http.Client, log *slog.Logger) (*tokenReviewer, error) {
	var errs []error
	if cfg.APIServer == "" {
		errs = append(errs, errors.New("apiServer is empty"))
	} else if err := checkURL(cfg.APIServer); err != nil {
		errs = append(errs, fmt.Errorf("apiServer: %w", err))
	}
	if cfg.TokenFile == "" {
		errs = append(errs, errors.New("tokenFile is empty"))
	}
	client, err := clientFor(base, caFile)
	if err != nil {
		errs = append(errs, err)
	}
	r := &tokenReviewer{
		cluster:   cluster,
		url:       strings.TrimSuffix(cfg.APIServer, "/") + tokenReviewPath,
		client:    client,
		tokenFile: cfg.TokenFile,
		log:       log.With("apiServer", cfg.APIServer),
	}
	if cfg.TokenFile != "" {
		if _, err := r.bearerToken(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// review asks the cluster whether token, which we already verified and
// which proves id, is still good, and checks that the cluster agrees on
// whom it belongs to.
func (r *tokenReviewer) review(ctx context.Context, token string, id *podidentity.PodIdentity) error {
	ch := r.group.DoChan(token, func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenReviewTimeout)
		defer cancel()
		return r.call(cctx, token)
	})
	var st *tokenReviewStatus
	select {
	case res := <-ch:
		if res.Err != nil {
			return res.Err
		}
		st = res.Val.(*tokenReviewStatus)
	case <-ctx.Done():
		return r.unavailable(ctx.Err())
	}

	if !st.Authenticated {
		why := strings.TrimSpace(strings.ReplaceAll(st.Error, token, "<token>"))
		if why == "" {
			why = "not authenticated"
		}
		return podidentity.Errorf(podidentity.CodeInvalidToken, "the token was rejected by the cluster: %s", clip(why, 300))
	}
	// The API documents that a client setting spec.audiences should check
	// status.audiences to be sure the server honoured them; an empty list
	// comes from a server that ignores audiences, and the token's own aud
	// was checked already.
	if len(st.Audiences) > 0 && !audience(st.Audiences).contains(podidentity.Audience) {
		return podidentity.Errorf(podidentity.CodeInvalidToken,
			"the cluster did not accept the token for audience %q", podidentity.Audience)
	}
	if st.User.Username != id.Subject {
		return podidentity.Errorf(podidentity.CodeInvalidToken,
			"the cluster authenticated the token as %q, not as its subject %q", clip(st.User.Username, 300), id.Subject)
	}
	if st.User.UID != "" && st.User.UID != id.ServiceAccountUID {
		return podidentity.Errorf(podidentity.CodeInvalidToken,
			"service account %s/%s has been replaced since the token was issued", id.Namespace, id.ServiceAccount)
	}
	if uids := st.User.Extra[podUIDExtra]; len(uids) > 0 && uids[0] != id.PodUID {
		return podidentity.Errorf(podidentity.CodeInvalidToken,
			"the cluster reports the token as bound to a different pod than %s/%s", id.Namespace, id.PodName)
	}
	return nil
}

func (r *tokenReviewer) unavailable(err error) *podidentity.Error {
	return &podidentity.Error{
		Code:    podidentity.CodeUnavailable,
		Message: fmt.Sprintf("cluster %q cannot be asked to review the token right now; retry the request", r.cluster),
		Err:     err,
	}
}

// call performs one TokenReview. Every failure here is ours or the
// cluster's, never the token's, and so CodeUnavailable.
func (r *tokenReviewer) call(ctx context.Context, token string) (*tokenReviewStatus, error) {
	bearer, err := r.bearerToken()
	if err != nil {
		r.log.Error("TokenReview: no bearer token", "err", err)
		return nil, r.unavailable(err)
	}
	body, err := json.Marshal(tokenReview{
		APIVersion: "authentication.k8s.io/v1",
		Kind:       "TokenReview",
		Spec:       tokenReviewSpec{Token: token, Audiences: []string{podidentity.Audience}},
	})
	if err != nil {
		return nil, podidentity.Internal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, podidentity.Internal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := r.client.Do(req)
	if err != nil {
		r.log.Error("TokenReview failed", "err", err)
		return nil, r.unavailable(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize))
	if err != nil {
		r.log.Error("TokenReview: reading the response", "err", err)
		return nil, r.unavailable(err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		// A Kubernetes Status object says why; it never echoes the token.
		var status struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &status)
		err := fmt.Errorf("TokenReview: %s: %s", resp.Status, clip(status.Message, 300))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			r.log.Error("TokenReview refused; the server's service account needs permission to create tokenreviews", "status", resp.StatusCode, "message", clip(status.Message, 300))
		} else {
			r.log.Error("TokenReview failed", "status", resp.StatusCode, "message", clip(status.Message, 300))
		}
		return nil, r.unavailable(err)
	}
	var tr tokenReview
	if err := json.Unmarshal(data, &tr); err != nil || tr.Status == nil {
		if err == nil {
			err = errors.New("the response has no status")
		}
		r.log.Error("TokenReview: unreadable response", "err", err)
		return nil, r.unavailable(fmt.Errorf("TokenReview: %w", err))
	}
	return tr.Status, nil
}

// bearerToken returns the contents of tokenFile, read again whenever the
// file changed: kubelet rewrites a projected token well before it expires.
// If the file cannot be read, the token read before is used.
func (r *tokenReviewer) bearerToken() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.tokenFile)
	if err == nil && r.bearer != "" && fi.ModTime().Equal(r.modTime) && fi.Size() == r.size {
		return r.bearer, nil
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(r.tokenFile)
	}
	if err == nil && len(bytes.TrimSpace(data)) == 0 {
		err = fmt.Errorf("%s is empty", r.tokenFile)
	}
	if err != nil {
		if r.bearer != "" {
			r.log.Warn("cannot read the TokenReview bearer token; using the one read before", "err", err)
			return r.bearer, nil
		}
		return "", fmt.Errorf("TokenReview bearer token: %w", err)
	}
	r.bearer = string(bytes.TrimSpace(data))
	r.modTime, r.size = fi.ModTime(), fi.Size()
	return r.bearer, nil
}
