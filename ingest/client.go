package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client posts events to a troupe API.
type Client struct {
	// BaseURL is the API's address, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Key is the API key (Bearer); "" sends none (troupe dev).
	Key string
	// HTTP is the client used; nil means one with a 30 s timeout.
	HTTP *http.Client
	// Attempts bounds the tries of a batch that got no answer, a 429 or a
	// 5xx; 0 means 3. A batch is idempotent, so trying again is safe.
	Attempts int
}

// NewClient returns a client of the API at baseURL with the API key key.
func NewClient(baseURL, key string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Key: key}
}

// Error is an answer of the API other than 200: its status and the problem's detail.
type Error struct {
	Status int
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("troupe answered %d: %s", e.Status, e.Detail) }

// Send posts events as one batch (all recorded, or none) and returns the state of their runs.
func (c *Client) Send(ctx context.Context, events ...FlowEvent) (EventBatchResult, error) {
	body, err := json.Marshal(EventBatch{Events: events})
	if err != nil {
		return EventBatchResult{}, fmt.Errorf("marshal events: %w", err)
	}
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	var last error
	for i := range attempts {
		res, wait, err := c.post(ctx, body)
		if err == nil || wait < 0 {
			return res, err
		}
		last = err
		if i == attempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return EventBatchResult{}, errors.Join(last, ctx.Err())
		case <-time.After(wait):
		}
	}
	return EventBatchResult{}, last
}

// post sends body once. wait is how long to wait before trying again, or
// negative when trying again cannot help.
func (c *Client) post(ctx context.Context, body []byte) (res EventBatchResult, wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return EventBatchResult{}, -1, fmt.Errorf("post events: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return EventBatchResult{}, -1, fmt.Errorf("post events: %w", err)
		}
		return EventBatchResult{}, time.Second, fmt.Errorf("post events: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return EventBatchResult{}, time.Second, fmt.Errorf("read the answer to events: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &res); err != nil {
			return EventBatchResult{}, -1, fmt.Errorf("decode the answer to events: %w", err)
		}
		return res, 0, nil
	}
	var problem struct {
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(data, &problem)
	err = &Error{Status: resp.StatusCode, Detail: problem.Detail}
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return EventBatchResult{}, -1, err
	}
	wait = time.Second
	if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
		wait = time.Duration(s) * time.Second
	}
	return EventBatchResult{}, wait, err
}
