package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// view is what every page template gets: the layout's parts and the page's own data.
type view struct {
	Title string
	Nav   string
	S     *session
	Data  any
}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "–"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "–"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return "–"
	},
	// local renders a run's start in its rule's zone.
	"local": func(t time.Time) string { return t.Format("Mon 2006-01-02 15:04 MST") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"hours": func(d time.Duration) string {
		return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
	},
	"hoursN": func(d time.Duration) int { return int(d / time.Hour) },
	"orDash": func(s string) string { return orDash(s) },
	"short":  func(s string) string { return shortID(s) },
	"list":   func(v ...string) []string { return v },
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errorf("dict: odd number of arguments")
		}
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func shortID(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// render executes a page into a buffer first, so a template error becomes a clean 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, s *session, data any) {
	v := view{Title: page, Nav: page, S: s, Data: data}
	if m, ok := data.(map[string]any); ok {
		if t, ok := m["Title"].(string); ok {
			v.Title = t
		}
		if n, ok := m["Nav"].(string); ok {
			v.Nav = n
		}
	}
	var buf bytes.Buffer
	if err := c.pages[page].Execute(&buf, v); err != nil {
		c.cfg.Logger.Error("console: render", "page", page, "err", err)
		http.Error(w, "internal error rendering "+page, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders an error page with status and msg.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	if status >= 500 {
		c.cfg.Logger.Error("console", "path", r.URL.Path, "err", msg)
	}
	back := r.Referer()
	if !strings.HasPrefix(back, "http") {
		back = ""
	}
	c.render(w, r, status, "error", s, map[string]any{"Title": http.StatusText(status), "Status": status, "Message": msg, "Back": back, "Nav": ""})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
